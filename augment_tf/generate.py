"""Draw samples from a trained run into an `.npz` (x uint8 0..255, y int64 for conditional runs), or a sharded folder.

    python -m augment_tf.generate RUN_DIR --n 10000 --out samples.npz [--grid samples.png] [--labels 3,5,8]
    python -m augment_tf.generate RUN_DIR --n 10000000 --out samples/ --format shards   # any number, flat memory

Samples are drawn in chunks with a progress bar on stderr; a second command given the same --out refuses while the
first runs (`files.claim`). Shards are written as the chunks come (augment_tf.shard_format), the classes cycling
rather than sorted (every shard holds each class); a killed write is finished by running the same command again.
"""

import os

import numpy as np

from augment_tf import checks, cli, data, files, images, progress, runs, sampling, shard_format
from augment_tf.errors import AugmentError


def main(argv=None):
    parser = cli.parser("augment_tf.generate", __doc__)
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("--n", type=int, required=True, help="number of samples")
    parser.add_argument("--out", required=True, help="output .npz, or a folder with --format shards")
    parser.add_argument("--format", choices=("npz", "shards"), default="npz",
                        help="npz (default), or shards: a sharded folder written as samples come (docs/data.md)")
    parser.add_argument("--images-per-shard", type=int,
                        help=f"--format shards: images per file (default: about {shard_format.SHARD_BYTES // 2**20} MB)")
    parser.add_argument("--grid", help="also write a preview grid PNG")
    parser.add_argument("--labels", help="conditional runs: classes to draw, balanced (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    cli.add_temperature(parser)
    args = parser.parse_args(argv)
    if args.n < 1:
        raise AugmentError(f"--n must be a positive integer, got {args.n}")
    if args.format == "npz":
        cli.check_output(args.out)
    elif args.out.endswith(".npz"):
        raise AugmentError(f"--format shards writes a folder, not {args.out}: drop the .npz from --out")
    if args.grid:
        cli.check_output(args.grid, ".png", "--grid")
    if args.images_per_shard is not None and (args.format != "shards" or args.images_per_shard < 1):
        raise AugmentError("--images-per-shard takes a positive integer, with --format shards")
    with files.claim(args.out):
        config = runs.read_config(args.run_dir)
        checks.room_for_images(args.out, config, args.n, "samples")
        args.temperature = cli.temperature(args, config)
        sampler, _ = runs.load_sampler(args.run_dir, config)  # TensorFlow loads here, after the arguments are checked
        num_classes = config.get("num_classes")
        if args.labels and not num_classes:
            raise AugmentError(f"--labels needs a conditional run; {args.run_dir} is unconditional")
        classes = None
        if num_classes:
            classes = sampling.parse_classes(args.labels, num_classes) if args.labels else range(num_classes)
        if args.format == "shards":
            _write_shards(sampler, config, args, classes)
            print(f"wrote {args.n} samples (temperature {args.temperature:g}) to {args.out}")
            return 0
        y = sampling.balanced_labels(args.n, classes) if num_classes else None
        x = sampling.sample(sampler, config, labels=y, n=args.n, seed=args.seed, temperature=args.temperature,
                            verbose=True)
        arrays = {"x": images.for_file(x)} if y is None else {"x": images.for_file(x), "y": y}
        if args.grid:
            files.write_png(args.grid, sampling.preview(x, y))
        files.write_npz(args.out, **arrays)  # last: an --out that exists is a finished command's
    print(f"wrote {args.n} samples (temperature {args.temperature:g}) to {args.out}")
    return 0


def _write_shards(sampler, config, args, classes):
    """The samples as a sharded folder, written as they are drawn; a rerun after a kill keeps the complete shards."""
    per_shard = args.images_per_shard or shard_format.default_images_per_shard(config["image_shape"])
    plan = {"command": "generate", "run": os.path.abspath(args.run_dir), "n": args.n, "classes": classes and list(
        classes), "seed": args.seed, "temperature": args.temperature, "images_per_shard": per_shard}
    skip = shard_format.resume_from(args.out, plan, per_shard)
    if skip:
        progress.note(f"{args.out}: keeping the {skip} samples of a killed write, drawing the rest", True)
    labels_of = sampling.cycling_labels(classes) if classes is not None else None
    chunks = sampling.sample_chunks(sampler, config, args.n, labels_of, args.seed, temperature=args.temperature,
                                    skip=skip, verbose=True)
    labelled = ((x, np.full(len(x), data.UNLABELED) if y is None else y) for x, y in chunks)
    first = []

    def kept_first(chunks):  # the preview grid comes from the first chunk drawn
        for x, y in chunks:
            if not first:
                first.append((x, y))
            yield x, y

    shard_format.write_shards(kept_first(labelled), args.out, per_shard, source=args.run_dir, plan=plan)
    if args.grid and first:
        x, y = first[0]
        files.write_png(args.grid, sampling.preview(x, None if classes is None else y))


if __name__ == "__main__":
    cli.run(main)
