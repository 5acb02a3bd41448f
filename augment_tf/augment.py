"""Augmented datasets: the real training split plus labelled samples from a conditional GAN or VAE run.

    python -m augment_tf.augment RUN_DIR --out augmented.npz --synthetic-per-class 1000
    python -m augment_tf.augment RUN_DIR --out augmented/ --balance --real imbalanced.npz --filter
    python -m augment_tf.augment RUN_DIR --out data/augmented_mnist/1.0.0 --format tfds --ratio 0.5 --classes 3,5,8

Amount, exactly one of: `--synthetic-per-class N`, `--ratio R` (R synthetic per real sample of each class,
rounded), `--balance` (every class topped up to the largest class count: `--balance-share` of each shortfall with
synthetic samples, the rest with copies of the class's real images drawn at random); `--classes` restricts it to
some classes.
`--filter` keeps only samples a classifier gives their label with probability >= `--threshold`, drawing fresh noise
for the rest: the run's own classifier.keras where it has one (an `--unlabeled` run), else the reference classifier
(`reference.reference_classifier`). Samples are ordered real (as read, then any copies)
then synthetic (by class); the same `--seed` writes the same bytes. Before writing, a cross-validation on the real
images (each fold without the samples nearest its held-out images) estimates whether the samples help a small
classifier (`benefit.py`; printed, warned about when they would hurt, and kept in the summary; `--no-estimate` skips
it); `--held-out PATH` scores it on labelled images the run never trained on instead.

Formats (`--format`, default from OUT: `.npz` file or folder; augment_tf.writers):
    npz   OUT.npz: x uint8 (N×H×W grayscale, N×H×W×C colour), y int64, is_synthetic bool
    idx   OUT/train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz (MNIST layout, grayscale only) and
          train-is-synthetic-idx1-ubyte.gz (uint8 0/1, same layout): `data.load_arrays(data_dir=OUT)` reads it
    tfds  OUT/ a TensorFlow Datasets folder, split "train", features image (H, W, C uint8), label (ClassLabel),
          is_synthetic (bool): `tfds.builder_from_directory(OUT)` reads it; for OUT=DIR/NAME/X.Y.Z
          `tfds.load(NAME, data_dir=DIR)` does too
    shards OUT/ a sharded folder (augment_tf.shard_format; what --data-dir trains from): for any number of
          samples, in flat memory. The real images are copied chunk by chunk (a sharded --real streams), then the
          synthetic ones, drawn chunk by chunk, each chunk holding every class; summary.json says how many of the
          first are real.
          No estimate (it needs the samples in memory); a killed write is finished by the same command.
Beside the data: a grid of real (one row) then synthetic (one row) samples per synthesised class, and a JSON
summary (counts per class, filter report, estimate): OUT_grid.png and OUT.json for an .npz, OUT/grid.png and
OUT/summary.json for a folder. Folders are written to a temporary sibling and renamed into place; while one command
writes OUT, another given the same OUT refuses (`files.claim`). Progress and notes go to stderr.
"""

import itertools
import os
import sys

import numpy as np

from augment_tf import amounts, checks, cli, data, defaults, files, progress, runs, sampling, shard_format, sources
from augment_tf import writers
from augment_tf.errors import AugmentError, DataError


def main(argv=None):
    """CLI: the augmented dataset at --out, claimed for the command's life; one line on stdout when written."""
    args = parse_args(argv)
    with files.claim(args.out):
        config = runs.read_config(args.run_dir)
        num_classes = amounts.run_classes({**config, "run_dir": args.run_dir})
        args.temperature = cli.temperature(args, config)
        sampler, _ = runs.load_sampler(args.run_dir, config)  # TensorFlow loads here, after the arguments are checked
        if args.classes:
            args.classes = sampling.parse_classes(args.classes, num_classes, "--classes")
        if args.format == "idx" and config["image_shape"][-1] != 1:
            raise AugmentError("IDX files hold grayscale images only: use --format npz or tfds")
        dataset = args.dataset or config.get("dataset") or "mnist"
        if args.format == "shards":
            return _write_streamed(args, sampler, config, dataset, num_classes)
        x_real, y_real = read_labelled(dataset, args.real or args.data_dir, config)
        counts = amounts.synthetic_counts(y_real, num_classes, per_class=args.synthetic_per_class, ratio=args.ratio,
                                          balance=args.balance, balance_share=args.balance_share, classes=args.classes)
        added = amounts.shortfall(y_real, num_classes, args.classes) if args.balance else counts  # copies included
        checks.room_for_images(args.out, config, len(y_real) + int(added.sum()))
        held_out = load_held_out(args.held_out, dataset, config, x_real) if args.held_out else None
        x, y, is_synthetic, report = _augment(args, sampler, config, dataset, x_real, y_real)
        per_class = lambda labels: np.bincount(labels, minlength=num_classes)
        real_data = args.real or args.data_dir or os.environ.get(data.DATA_DIR_ENV) or f"tfds:{dataset}"
        summary = _summary(args, config, real_data, per_class(y_real), per_class(y[is_synthetic]),
                           per_class(y[~is_synthetic][len(y_real):]), report)
        if not args.no_estimate:
            summary["estimate"] = _estimate(x_real, y_real, x[is_synthetic], y[is_synthetic], num_classes, args.seed,
                                            held_out)
        writers.write(args.out, args.format, x, y, is_synthetic, summary, num_classes)
    copies = sum(summary["real_copies_per_class"])
    copied = f" + {copies} real copies" if copies else ""
    print(f"wrote {len(x)} samples ({len(x_real)} real{copied} + {summary['n_synthetic']} synthetic) to {args.out}")
    return 0


def parse_args(argv=None):
    """The command line, every option checked (--format filled in from --out) before any work is done."""
    parser = cli.parser("augment_tf.augment", __doc__)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a conditional GAN or VAE training run")
    parser.add_argument("--out", required=True, help="an .npz file or a folder (IDX or TFDS)")
    parser.add_argument("--format", choices=writers.FORMATS, help="default: npz for an .npz OUT, else idx")
    parser.add_argument("--synthetic-per-class", type=int, metavar="N", help="N synthetic samples of each class")
    parser.add_argument("--ratio", type=float, metavar="R", help="R synthetic per real sample of each class")
    parser.add_argument("--balance", action="store_true", help="top every class up to the largest class count")
    parser.add_argument("--balance-share", type=float, metavar="F", help="--balance: the share of each class's "
                        f"shortfall synthesised, the rest copies of its real images (default {defaults.BALANCE_SHARE:g})")
    parser.add_argument("--classes", help="only synthesise these classes, e.g. 3,5,8 (default: all)")
    parser.add_argument("--filter", action="store_true", help="keep only samples a classifier gives their label: the "
                        "run's own classifier.keras where it has one (an --unlabeled run), else the reference "
                        "classifier of the real data")
    parser.add_argument("--threshold", type=float,
                        help=f"--filter: least probability of the requested label (default {defaults.FILTER_THRESHOLD})")
    parser.add_argument("--max-rounds", type=int,
                        help=f"--filter: rounds of regeneration at most (default {defaults.FILTER_MAX_ROUNDS})")
    parser.add_argument("--real", metavar="PATH", help="real samples to augment: a data folder or .npz "
                        "(default: the train split of --data-dir / $AUGMENT_TF_DATA_DIR / TFDS)")
    parser.add_argument("--dataset", help="TensorFlow Datasets name (default: the run's)")
    parser.add_argument("--data-dir", help="local data (IDX folder or .npz): the real samples without --real, and "
                        f"what --filter's reference classifier learns; default ${data.DATA_DIR_ENV} or TFDS")
    parser.add_argument("--no-estimate", action="store_true", help="skip the estimate of whether the samples help "
                        f"(a {defaults.ESTIMATE_FOLDS}-fold cross-validation on the real images: "
                        f"{2 * defaults.ESTIMATE_FOLDS} small CNNs)")
    parser.add_argument("--held-out", metavar="PATH", help="labelled images the run never trained on (a data folder "
                        "or .npz, read as --real is): the estimate scores on these instead of cross-validating the "
                        "real images, which the generator may have copied")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same output bytes")
    cli.add_temperature(parser)
    args = parser.parse_args(argv)
    amounts.check_amount(args.synthetic_per_class, args.ratio, args.balance, args.balance_share)
    if args.held_out and args.format == "shards":
        raise AugmentError("--format shards writes no estimate (it needs the samples in memory), so --held-out has "
                           "nothing to score: drop it")
    if args.held_out and args.no_estimate:
        raise AugmentError("--held-out is what the estimate scores on: drop --no-estimate, or --held-out")
    args.threshold, args.max_rounds = _filter_options(args)
    args.format = writers.output_format(args.out, args.format)
    return args


def _augment(args, sampler, config, dataset, x_real, y_real):
    """`augmented_arrays` as the command line asks: (x, y, is_synthetic, filter report or None)."""
    from augment_tf import synthesis  # TensorFlow is loaded by now (the run's sampler)

    classifier, name = None, None
    if args.filter:
        classifier, name = synthesis.filter_classifier(args.run_dir, dataset, args.data_dir, verbose=True)
    x, y, is_synthetic, report = synthesis.augmented_arrays(
        sampler, config, x_real, y_real, per_class=args.synthetic_per_class, ratio=args.ratio, balance=args.balance,
        balance_share=args.balance_share, classes=args.classes, filter_threshold=args.threshold, classifier=classifier,
        max_rounds=args.max_rounds, seed=args.seed, temperature=args.temperature, return_report=True)
    report = report and {**report, "classifier": name}
    synthesis.report_filter(report)
    return x, y, is_synthetic, report


def _summary(args, config, real_data, real_per_class, synthetic_per_class, copies_per_class, report, **extra):
    """The JSON summary written beside the data, in memory or streamed alike: sources, counts per class, the filter's
    report; the estimate is filled in later, where one runs. `extra` holds what only one way of writing has."""
    real_per_class, synthetic_per_class = np.asarray(real_per_class), np.asarray(synthetic_per_class)
    return {
        "run_dir": args.run_dir, "real_data": real_data, "held_out_data": args.held_out, "format": args.format,
        "seed": args.seed, "temperature": args.temperature, "n_real": int(real_per_class.sum()),
        "n_synthetic": int(synthetic_per_class.sum()),
        "real_per_class": real_per_class.tolist(), "synthetic_per_class": synthetic_per_class.tolist(),
        "filter": report, "real_copies_per_class": np.asarray(copies_per_class).tolist(),
        "balance_share": (defaults.BALANCE_SHARE if args.balance_share is None else args.balance_share)
        if args.balance else None,
        "run_trained_on": {"labeled": config.get("n_labeled", config.get("n_train")),
                           "unlabeled": config.get("n_unlabeled", 0)},
        "estimate": None, **extra,
    }


def _filter_options(args):
    """(threshold, max rounds) of --filter, checked; they mean nothing without it."""
    if not args.filter:
        if args.threshold is not None or args.max_rounds is not None:
            raise AugmentError("--threshold and --max-rounds only apply with --filter")
        return None, defaults.FILTER_MAX_ROUNDS
    threshold = defaults.FILTER_THRESHOLD if args.threshold is None else args.threshold
    max_rounds = defaults.FILTER_MAX_ROUNDS if args.max_rounds is None else args.max_rounds
    if not 0 < threshold <= 1:
        raise AugmentError(f"--threshold must be a probability in (0, 1], got {threshold}")
    if max_rounds < 1:
        raise AugmentError(f"--max-rounds must be a positive integer, got {max_rounds}")
    return threshold, max_rounds


def load_held_out(path, dataset, config, x_real):
    """--held-out's labelled images, checked like the real ones; a warning if some are also among the real images
    (the run likely trained on those, so they cannot show what it copied)."""
    x, y = read_labelled(dataset, path, config)
    if not len(y):
        raise DataError(f"{path}: no labelled images to score the estimate on; --held-out needs labels")
    real = {image.tobytes() for image in x_real}
    shared = sum(image.tobytes() in real for image in x)
    if shared:
        print(f"warning: {shared} of the {len(x)} --held-out images are also among the real images; hold out images "
              "the run never trained on", file=sys.stderr)
    return x, y


def _estimate(x_real, y_real, x_syn, y_syn, num_classes, seed, held_out=None):
    """benefit.estimate's result, printed (a warning when the samples would hurt); None where it cannot run."""
    from augment_tf import benefit, reference  # TensorFlow is loaded by now (the run's sampler)

    if not len(x_syn) or min(x_real.shape[1:3]) < reference.MIN_CLASSIFIER_SIZE:
        return None
    how = (f"{benefit.FOLDS}-fold cross-validation on the real images" if held_out is None else
           f"scored on {len(held_out[1])} --held-out images")
    print(f"estimating whether the samples help ({how}; --no-estimate skips it) ...", file=sys.stderr)
    result = benefit.estimate(x_real, y_real, x_syn, y_syn, num_classes, seed=seed, held_out=held_out,
                              drop_held_out_copies=held_out is None,  # chosen on validation: benchmarks/README.md
                              verbose=True)
    if result is None:
        print("estimate: too few real images to hold any out", file=sys.stderr)
    else:
        print(("warning: " if result["verdict"] == "hurts" else "") + benefit.describe(result), file=sys.stderr)
    return result


def _write_streamed(args, sampler, config, dataset, num_classes):
    """--format shards: the real images, any --balance copies, then the synthetic samples, written as shards as they
    come, so that memory holds a chunk whatever the number of samples; a rerun finishes a killed write."""
    from augment_tf import synthesis  # TensorFlow is loaded by now (the run's sampler)

    source, how = sources.open_source(dataset, "train", args.real or args.data_dir)
    progress.note(how, how is not None)
    checks.source_fits(config, source, num_classes)
    real = np.pad(source.class_counts, (0, max(0, num_classes - len(source.class_counts))))
    if args.balance and source.streamed:
        raise AugmentError("--balance copies real images at random, and this --real is streamed: use --ratio or "
                           "--synthetic-per-class, or --format npz")
    counts = amounts.counts_for(real, per_class=args.synthetic_per_class, ratio=args.ratio, balance=args.balance,
                                balance_share=args.balance_share, classes=args.classes)
    copies = amounts.balance_copies(source.y, num_classes, counts, np.random.default_rng([args.seed, source.images]),
                                    args.classes) if args.balance else np.zeros(0, np.int64)
    classifier = name = None
    if args.filter:
        classifier, name = synthesis.filter_classifier(args.run_dir, dataset, args.data_dir, verbose=True)
    checks.room_for_images(args.out, config, int(real.sum() + len(copies) + counts.sum()))
    per_shard = shard_format.default_images_per_shard(config["image_shape"])
    plan = {"command": "augment", "run": os.path.abspath(args.run_dir), "real": os.path.abspath(source.name)
            if os.path.exists(source.name) else source.name, "counts": counts.tolist(), "copies": len(copies),
            "filter": name, "threshold": args.threshold, "max_rounds": args.max_rounds, "seed": args.seed,
            "temperature": args.temperature, "images_per_shard": per_shard}
    skip = shard_format.resume_from(args.out, plan, per_shard)
    reports, n_real = [], int(real.sum())
    synthetic = synthesis.synthetic_chunks(sampler, config, counts, classifier=classifier, threshold=args.threshold,
                                           max_rounds=args.max_rounds, seed=args.seed, temperature=args.temperature,
                                           skip=skip - n_real - len(copies), reports=reports)
    parts = [((x[y != data.UNLABELED], y[y != data.UNLABELED]) for x, y in source.chunks()),
             [(source.x[copies], source.y[copies])] if len(copies) else [], synthetic]
    shard_format.write_shards(shard_format.skipped(itertools.chain(*parts), skip), args.out, per_shard,
                              source=args.run_dir, plan=plan)
    report = synthesis.merged_report(reports, args.threshold, name)
    synthesis.report_filter(report)
    synthetic_per_class = counts - (np.asarray(report["short_per_class"]) if report else 0)
    copies_per_class = np.bincount(source.y[copies], minlength=num_classes) if len(copies) else np.zeros_like(real)
    summary = _summary(args, config, source.name, real, synthetic_per_class, copies_per_class, report,
                       real_copies=len(copies), order="the first n_real + real_copies images are real, the rest "
                       "synthetic", resumed_after=skip)
    files.write_json(os.path.join(args.out, "summary.json"), summary)
    n_synthetic = summary["n_synthetic"]
    print(f"wrote {n_real + len(copies) + n_synthetic} samples ({n_real} real"
          f"{f' + {len(copies)} real copies' if len(copies) else ''} + {n_synthetic} synthetic) to {args.out}")
    return 0


def read_labelled(dataset, path, config):
    """The labelled images of `path` (a data folder's train split or an .npz; None: $AUGMENT_TF_DATA_DIR or TFDS),
    checked against the run (`checks.real_images`)."""
    (x, y), _ = data.split_labeled(*data.load_arrays(dataset, "train", path))
    return checks.real_images(x, y, config, path or os.environ.get(data.DATA_DIR_ENV) or f"tfds:{dataset}")


if __name__ == "__main__":
    cli.run(main)
