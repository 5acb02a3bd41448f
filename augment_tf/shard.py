"""Write a dataset as shards, to train on more images than memory holds (docs/data.md, "Sharded datasets").

    python -m augment_tf.shard SRC --out DIR [--split train] [--images-per-shard N]

SRC is a folder of MNIST IDX files, an .npz (or a folder of `{split}.npz`), a sharded folder (re-sharding it) or a
TensorFlow Datasets name (streamed, never whole in memory). Progress goes to stderr, one summary line to stdout. A
killed write keeps its complete shards: the same command run again writes the rest.
"""

import itertools
import os

import augment_tf
from augment_tf import cli, files, progress, shard_format, sources
from augment_tf.errors import AugmentError, DataError


def main(argv=None):
    parser = cli.parser("augment_tf.shard", __doc__)
    parser.add_argument("src", metavar="SRC", help="IDX folder, .npz, sharded folder or TensorFlow Datasets name")
    parser.add_argument("--out", required=True, help="folder to write (absent or empty)")
    parser.add_argument("--split", default="train", help="split of an IDX folder or TFDS name (default train)")
    parser.add_argument("--images-per-shard", type=int,
                        help=f"images per file (default: about {shard_format.SHARD_BYTES // 2**20} MB of images)")
    args = parser.parse_args(argv)
    if args.images_per_shard is not None and args.images_per_shard < 1:
        raise AugmentError(f"--images-per-shard must be a positive integer, got {args.images_per_shard}")
    with files.claim(args.out):
        total, chunks = sources.source_chunks(args.src, args.split)  # a wrong SRC is refused here
        chunks = iter(chunks)
        first = next(chunks, None)
        if first is None:
            raise DataError(f"{args.src}: no images to write")
        if total:
            files.check_space(args.out, total * first[0][0].nbytes, f"{total} images")
        per_shard = args.images_per_shard or shard_format.default_images_per_shard(first[0].shape[1:])
        plan = {"command": "shard", "src": os.path.abspath(args.src) if os.path.exists(args.src) else args.src,
                "split": args.split, "images_per_shard": per_shard}
        skip = shard_format.resume_from(args.out, plan, per_shard)  # a new folder, or a killed write of this plan
        progress.note(f"{args.out}: keeping the {skip} images of a killed write, writing the rest", skip > 0)
        chunks = shard_format.skipped(itertools.chain([first], chunks), skip)
        augment_tf.load_tensorflow()  # it writes the TFRecords; loaded only now, after the checks
        import keras

        with progress.shown() as verbose:
            bar = None if verbose != 1 else keras.utils.Progbar(total and total - skip, verbose=verbose,
                                                                unit_name="image")
            metadata = shard_format.write_shards(_counted(chunks, bar) if bar else chunks, args.out, per_shard,
                                                 on_shard=None if bar else _note, source=args.src, plan=plan)
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
