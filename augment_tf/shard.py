"""Write a dataset as shards, to train on more images than memory holds (docs/data.md, "Sharded datasets").

    python -m augment_tf.shard SRC --out DIR [--split train] [--images-per-shard N]

SRC is a folder of MNIST IDX files, an .npz (or a folder of `{split}.npz`), a sharded folder (re-sharding it) or a
TensorFlow Datasets name (streamed, never whole in memory). Progress goes to stderr, one summary line to stdout.
"""

import argparse
import contextlib
from pathlib import Path

import keras

from augment_tf import cli, data, files, progress, shards
from augment_tf.errors import AugmentError, DataError


def source_chunks(src, split="train", chunk_size=shards.CHUNK):
    """(number of images or None, iterable of (x uint8, y int64) chunks) of SRC: a sharded folder, local files
    (`data.load_arrays`) or, when no such path exists, a TensorFlow Datasets name."""
    path = Path(src).expanduser()
    if shards.is_sharded(path):
        return shards.read_metadata(path)["images"], shards.read_chunks(path, chunk_size)
    if path.exists() or path.suffix == ".npz" or "/" in src:
        x, y = data.load_arrays(split=split, data_dir=str(path))
        return len(x), ((x[i:i + chunk_size], y[i:i + chunk_size]) for i in range(0, len(x), chunk_size))
    return _tfds_chunks(src, split, chunk_size)


def _tfds_chunks(name, split, chunk_size):
    """(number of images or None, chunks) of a prepared TensorFlow Datasets split, read in batches, never whole."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name)
        prepared = builder.is_prepared()
    except tfds.core.DatasetNotFoundError:
        raise DataError(f"{name}: no such file or folder, nor a TensorFlow Datasets name") from None
    if not prepared:
        raise DataError(f"TensorFlow Datasets {name!r} is not downloaded to {builder.data_dir}: prepare it once "
                        f"online (tfds build {name}) or pass a local folder")
    try:
        batches = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False).batch(chunk_size)
    except (KeyError, ValueError) as e:
        raise DataError(f"TensorFlow Datasets {name!r}: cannot read split {split!r} as (image, label) ({e})") from None
    total = None  # for the progress bar only: unknown where the split's info is
    with contextlib.suppress(KeyError, ValueError):
        total = builder.info.splits[split].num_examples

    def chunks():
        try:
            yield from tfds.as_numpy(batches)
        except tf.errors.OpError as e:
            first_line = (e.message.splitlines() or [""])[0]
            raise DataError(f"TensorFlow Datasets {name!r}: reading split {split!r} failed ({first_line})") from None

    return total, chunks()


def main(argv=None):
    parser = argparse.ArgumentParser(prog=cli.prog("augment_tf.shard"), description=__doc__.splitlines()[0])
    parser.add_argument("src", metavar="SRC", help="IDX folder, .npz, sharded folder or TensorFlow Datasets name")
    parser.add_argument("--out", required=True, help="folder to write (absent or empty)")
    parser.add_argument("--split", default="train", help="split of an IDX folder or TFDS name (default train)")
    parser.add_argument("--images-per-shard", type=int,
                        help=f"images per file (default: about {shards.SHARD_BYTES // 2**20} MB of images)")
    args = parser.parse_args(argv)
    if args.images_per_shard is not None and args.images_per_shard < 1:
        raise AugmentError(f"--images-per-shard must be a positive integer, got {args.images_per_shard}")
    with files.claim(args.out):
        shards.check_new_folder(args.out)
        total, chunks = source_chunks(args.src, args.split)
        with progress.shown() as verbose:
            bar = keras.utils.Progbar(total, verbose=verbose, unit_name="image") if verbose == 1 else None
            metadata = shards.write_shards(_counted(chunks, bar) if bar else chunks, args.out, args.images_per_shard,
                                           on_shard=None if bar else _note, source=args.src)
    labels = (f"{metadata['num_classes']} classes" if metadata["num_classes"] else "no labels") + (
        f", {metadata['unlabeled']} unlabelled" if metadata["num_classes"] and metadata["unlabeled"] else "")
    print(f"wrote {metadata['images']} images {tuple(metadata['image_shape'])} ({labels}) in "
          f"{len(metadata['shards'])} shards to {args.out}")
    return 0


def _counted(chunks, bar):
    """`chunks`, advancing `bar` as each is taken."""
    for x, y in chunks:
        yield x, y
        bar.add(len(y))


def _note(entry):
    progress.note(f"{entry['file']}: {entry['records']} images, {entry['bytes'] / 2**20:.1f} MB")


if __name__ == "__main__":
    cli.run(main)
