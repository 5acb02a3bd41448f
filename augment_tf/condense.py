"""Condense a dataset into K images per class that a classifier can train on instead of the whole set.

    python -m augment_tf.condense RUN_DIR --per-class 10 --out small.npz [--real DATA] [--seed 0]

Distribution matching (Zhao & Bilen 2023) through a conditional run's generator: each class's K images should have
the mean embedding of the class's real images under randomly drawn ConvNets. K samples per class are herded from a
pool of the run's samples (greedy mean matching), then their codes follow the gradient of the same objective, a
fresh network and real batch at each step; the images stay ones the generator can make. The real images are the
first --real-per-class of each class in --real, so a sharded folder of any size is read only that far.
"""

import os
import time

from augment_tf import checks, cli, defaults, files, images, progress, runs, sampling, sources
from augment_tf.errors import AugmentError


def main(argv=None):
    parser = cli.parser("augment_tf.condense", __doc__)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a conditional run of train_gan.py or train_vae.py")
    parser.add_argument("--per-class", type=int, required=True, metavar="K", help="images per class to make")
    parser.add_argument("--out", required=True, help="output .npz (x, y); OUT.png (a grid) and OUT.json beside it")
    parser.add_argument("--real", help="the data the set stands in for: a folder of IDX files, an .npz or a sharded "
                        "folder, read as far as --real-per-class needs (default: the run's training data)")
    parser.add_argument("--real-per-class", type=int, default=defaults.CONDENSE_REAL_PER_CLASS,
                        help=f"real images of each class kept as the target (default "
                        f"{defaults.CONDENSE_REAL_PER_CLASS})")
    parser.add_argument("--steps", type=int, default=defaults.CONDENSE_STEPS,
                        help=f"refinement steps (default {defaults.CONDENSE_STEPS}; 0: herd only)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same file")
    cli.add_temperature(parser, default=1.0)  # what condense was tuned and measured at
    args = parser.parse_args(argv)
    cli.check_output(args.out)
    pool = defaults.CONDENSE_POOL
    if args.per_class < 1 or args.per_class > pool:
        raise AugmentError(f"--per-class takes 1..{pool} (it herds from {pool} samples per class), got {args.per_class}")
    if args.real_per_class < 1 or args.steps < 0:
        raise AugmentError("--real-per-class takes a positive number and --steps zero or more")
    stem = os.fspath(args.out)[:-len(".npz")]
    with files.claim(args.out):
        config = runs.read_config(args.run_dir)
        if not config.get("num_classes"):
            raise AugmentError(f"condense makes K images per class and {args.run_dir} is unconditional: train one with "
                               "--conditional")
        source, how = sources.open_source(config.get("dataset") or "mnist", "train",
                                          args.real or config.get("data_dir"))
        progress.note(how, how is not None)
        checks.source_fits(config, source, config["num_classes"])
        checks.room_for_images(args.out, config, args.per_class * config["num_classes"])
        sampler, _ = runs.load_sampler(args.run_dir, config)  # TensorFlow loads here
        from augment_tf import condensation  # so, after the checks: --help and bad input answer without it

        started = time.perf_counter()
        x, y, report = condensation.condense(sampler, config, source.chunks(), args.per_class,
                                             kept_per_class=args.real_per_class, steps=args.steps, seed=args.seed,
                                             temperature=cli.temperature(args, config), verbose=True)
        summary = {"run_dir": args.run_dir, "real": source.name, "per_class": args.per_class, "seed": args.seed,
                   **report, "seconds": round(time.perf_counter() - started, 1)}
        files.write_png(stem + ".png", sampling.preview(x, y, per_row=min(args.per_class, 10)))
        files.write_json(stem + ".json", summary)
        files.write_npz(args.out, x=images.for_file(x), y=y)  # last: an --out that exists is a finished command's
    print(f"wrote {len(x)} images ({args.per_class} per class) to {args.out}, a grid to {stem}.png and a summary to "
          f"{stem}.json")
    return 0


if __name__ == "__main__":
    cli.run(main)
