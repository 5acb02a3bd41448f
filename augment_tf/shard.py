"""Write a dataset as shards, to train on more images than memory holds (docs/data.md, "Sharded datasets").

    python -m augment_tf.shard SRC --out DIR [--split train] [--images-per-shard N]

SRC is a folder of MNIST IDX files, an .npz (or a folder of `{split}.npz`), a sharded folder (re-sharding it) or a
TensorFlow Datasets name (streamed, never whole in memory). Progress goes to stderr, one summary line to stdout.
"""

import argparse
import itertools

import augment_tf
from augment_tf import cli, files, progress, shard_format, sources
from augment_tf.errors import AugmentError


def main(argv=None):
    parser = argparse.ArgumentParser(prog=cli.prog("augment_tf.shard"), description=__doc__.splitlines()[0])
    parser.add_argument("src", metavar="SRC", help="IDX folder, .npz, sharded folder or TensorFlow Datasets name")
    parser.add_argument("--out", required=True, help="folder to write (absent or empty)")
    parser.add_argument("--split", default="train", help="split of an IDX folder or TFDS name (default train)")
    parser.add_argument("--images-per-shard", type=int,
                        help=f"images per file (default: about {shard_format.SHARD_BYTES // 2**20} MB of images)")
    args = parser.parse_args(argv)
    if args.images_per_shard is not None and args.images_per_shard < 1:
        raise AugmentError(f"--images-per-shard must be a positive integer, got {args.images_per_shard}")
    with files.claim(args.out):
        shard_format.check_new_folder(args.out)
        total, chunks = sources.source_chunks(args.src, args.split)  # a wrong SRC is refused here
        chunks = iter(chunks)
        first = next(chunks, None)
        if first is not None and total:
            files.check_space(args.out, total * first[0][0].nbytes, f"{total} images")
        chunks = itertools.chain([first] if first is not None else [], chunks)
        augment_tf.load_tensorflow()  # it writes the TFRecords; loaded only now, after the checks
        import keras

        with progress.shown() as verbose:
            bar = keras.utils.Progbar(total, verbose=verbose, unit_name="image") if verbose == 1 else None
            metadata = shard_format.write_shards(_counted(chunks, bar) if bar else chunks, args.out,
                                                 args.images_per_shard, on_shard=None if bar else _note,
                                                 source=args.src)
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
