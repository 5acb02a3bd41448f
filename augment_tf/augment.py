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
(`evaluate.reference_classifier`). Samples are ordered real (as read, then any copies)
then synthetic (by class); the same `--seed` writes the same bytes. Before writing, a cross-validation on the real
images (each fold without the samples nearest its held-out images) estimates whether the samples help a small
classifier (`benefit.py`; printed, warned about when they would hurt, and kept in the summary; `--no-estimate` skips
it); `--held-out PATH` scores it on labelled images the run never trained on instead.

Formats (`--format`, default from OUT: `.npz` file or folder):
    npz   OUT.npz: x uint8 (N×H×W grayscale, N×H×W×C colour), y int64, is_synthetic bool
    idx   OUT/train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz (MNIST layout, grayscale only) and
          train-is-synthetic-idx1-ubyte.gz (uint8 0/1, same layout): `data.load_arrays(data_dir=OUT)` reads it
    tfds  OUT/ a TensorFlow Datasets folder, split "train", features image (H, W, C uint8), label (ClassLabel),
          is_synthetic (bool): `tfds.builder_from_directory(OUT)` reads it; for OUT=DIR/NAME/X.Y.Z
          `tfds.load(NAME, data_dir=DIR)` does too
    shards OUT/ a sharded folder (augment_tf.shards; what --data-dir trains from): for any number of samples, in flat
          memory. The real images are copied chunk by chunk (a sharded --real streams), then the synthetic ones,
          drawn chunk by chunk, each chunk holding every class; summary.json says how many of the first are real.
          No estimate (it needs the samples in memory); a killed write is finished by the same command.
Beside the data: a grid of real (one row) then synthetic (one row) samples per synthesised class, and a JSON
summary (counts per class, filter report, estimate): OUT_grid.png and OUT.json for an .npz, OUT/grid.png and
OUT/summary.json for a folder. Folders are written to a temporary sibling and renamed into place; while one command
writes OUT, another given the same OUT refuses (`files.claim`). Progress and notes go to stderr.
"""

import argparse
import contextlib
import io
import itertools
import os
import re
import shutil
import sys

import numpy as np

from augment_tf import benefit, cli, data, evaluate, files, generate, images, progress, pseudo_labels, runs, shards
from augment_tf import sources
from augment_tf.errors import AugmentError, DataError

FORMATS = ("npz", "idx", "tfds", "shards")
IS_SYNTHETIC_IDX = "train-is-synthetic-idx1-ubyte.gz"
DEFAULT_THRESHOLD = 0.9
DEFAULT_MAX_ROUNDS = 10
BALANCE_SHARE = 0.1  # --balance: share of each shortfall synthesised; chosen on validation (benchmarks/README.md)
TFDS_NAME, TFDS_VERSION = "augmented", "1.0.0"


def run_classes(config):
    """Number of classes of a conditional run; an unconditional run cannot label its samples."""
    if not config.get("num_classes"):
        where = config.get("run_dir") or "this run"
        raise AugmentError(f"{where} is an unconditional run: augmenting needs labelled samples; "
                           "train one with --conditional")
    return int(config["num_classes"])


def check_amount(per_class=None, ratio=None, balance=False, balance_share=None):
    """Exactly one amount, and a sensible one."""
    given = [flag for flag, value in (("--synthetic-per-class", per_class), ("--ratio", ratio),
                                      ("--balance", balance or None)) if value is not None]
    if len(given) != 1:
        raise AugmentError("give exactly one of --synthetic-per-class, --ratio and --balance"
                           + (f" (got {' and '.join(given)})" if given else ""))
    if per_class is not None and (int(per_class) != per_class or per_class < 1):
        raise AugmentError(f"--synthetic-per-class must be a positive integer, got {per_class}")
    if ratio is not None and not (np.isfinite(ratio) and ratio > 0):
        raise AugmentError(f"--ratio must be a positive number (synthetic per real sample), got {ratio}")
    if balance_share is not None and not balance:
        raise AugmentError("--balance-share only applies with --balance")
    if balance_share is not None and not 0 <= balance_share <= 1:
        raise AugmentError(f"--balance-share must be in [0, 1] (the synthetic share of each shortfall), "
                           f"got {balance_share}")


def shortfall(y_real, num_classes, classes=None):
    """Images each class lacks to the largest real class count, int64 (num_classes,); zero outside `classes`."""
    return _shortfall(np.bincount(y_real, minlength=num_classes), classes)


def _shortfall(real, classes=None):
    """`shortfall` from the real images' class counts."""
    num_classes = len(real)
    classes = np.arange(num_classes) if classes is None else np.asarray(classes, np.int64)
    if classes.size == 0 or classes.min() < 0 or classes.max() >= num_classes:
        raise AugmentError(f"--classes: classes must be in 0..{num_classes - 1}, got {classes.tolist()}")
    missing = np.zeros(num_classes, np.int64)
    missing[classes] = real.max() - real[classes]
    return missing


def synthetic_counts(y_real, num_classes, *, per_class=None, ratio=None, balance=False, balance_share=None,
                     classes=None):
    """Synthetic samples to draw for each class, int64 (num_classes,); zero outside `classes` (default: all).

    `balance` tops each class up to the largest real class count (over all classes), `balance_share` (default
    BALANCE_SHARE) of the shortfall synthetic; a class without real images to copy gets all of it synthetic.
    """
    return counts_for(np.bincount(y_real, minlength=num_classes), per_class=per_class, ratio=ratio, balance=balance,
                      balance_share=balance_share, classes=classes)


def counts_for(real, *, per_class=None, ratio=None, balance=False, balance_share=None, classes=None):
    """`synthetic_counts` from the real images' class counts (`real`, one per class of the run)."""
    check_amount(per_class, ratio, balance, balance_share)
    real = np.asarray(real, np.int64)
    missing = _shortfall(real, classes)  # checks `classes` too
    classes = np.arange(len(real)) if classes is None else np.asarray(classes, np.int64)
    counts = np.zeros(len(real), np.int64)
    if per_class is not None:
        counts[classes] = per_class
    elif ratio is not None:
        counts[classes] = np.rint(ratio * real[classes])
    else:
        share = BALANCE_SHARE if balance_share is None else balance_share
        counts[:] = np.where(real > 0, np.rint(share * missing), missing)
    return counts


def balance_copies(y_real, num_classes, counts, rng, classes=None):
    """Indices of real samples to repeat so that, with `counts` synthetic samples, each class (of `classes`) reaches
    the largest real class count: --balance's shortfall not synthesised, drawn by `rng` with replacement (with
    no synthetic samples, random oversampling)."""
    missing = shortfall(y_real, num_classes, classes) - counts
    picks = [rng.choice(np.flatnonzero(y_real == c), n) for c, n in enumerate(missing) if n > 0]
    return np.concatenate([np.zeros(0, np.int64), *picks])


def synthesize(sampler, config, counts, *, classifier=None, threshold=DEFAULT_THRESHOLD,
               max_rounds=DEFAULT_MAX_ROUNDS, seed=0, temperature=1.0):
    """(x uint8 (N, H, W, C), y int64, filter report or None): `counts[c]` samples of each class c, by class.

    With a `classifier` (raw 0..255 images -> class probabilities) only samples it assigns to their label with
    probability >= `threshold` are kept; what is missing is drawn again with fresh noise, for at most `max_rounds`
    rounds, each drawing more of the classes the filter rejects often. The report counts what it dropped.
    """
    counts = np.asarray(counts, np.int64)
    kept = [[] for _ in counts]
    missing, drawn, rejected = counts.copy(), np.zeros_like(counts), np.zeros_like(counts)
    rounds = 0
    while missing.any() and rounds < (max_rounds if classifier is not None else 1):
        # Draw missing / acceptance rate so far (at most 10x): few rounds even when the filter is strict.
        rate = np.where(drawn > 0, 1 - rejected / np.maximum(drawn, 1), 1.0)
        todo = np.ceil(missing / np.clip(rate, 0.1, 1.0)).astype(np.int64)
        labels = np.repeat(np.arange(len(counts)), todo)
        # Round 0 draws what `generate --seed` draws for the same labels.
        x = generate.sample(sampler, config, labels=labels, seed=seed if rounds == 0 else (seed, rounds),
                            temperature=temperature)
        ok = np.ones(len(x), bool) if classifier is None else accepted(classifier, x, labels, threshold)
        drawn += todo
        rejected += np.bincount(labels[~ok], minlength=len(counts))
        for c in np.flatnonzero(missing):
            take = x[ok & (labels == c)][: missing[c]]
            kept[c].append(take)
            missing[c] -= len(take)
        rounds += 1
    shape = tuple(config["image_shape"])
    x = np.concatenate([np.zeros((0, *shape), np.uint8)] + [a for parts in kept for a in parts])
    y = np.repeat(np.arange(len(counts)), counts - missing)
    if classifier is None:
        return x, y, None
    report = {"threshold": threshold, "rounds": rounds, "generated": int(drawn.sum()),
              "rejected": int(rejected.sum()), "rejected_per_class": rejected.tolist(),
              "short_per_class": missing.tolist()}
    return x, y, report


def accepted(classifier, x, labels, threshold):
    """Which samples `classifier` assigns to their label (its top class) with probability >= `threshold`."""
    probabilities = np.asarray(classifier.predict(x, batch_size=1000, verbose=0))
    if probabilities.ndim != 2 or probabilities.shape[1] <= labels.max(initial=0):
        raise AugmentError(f"the filter classifier gives {probabilities.shape[-1]} class probabilities but the run "
                           f"has labels up to {labels.max()}: use the classifier of the run's dataset")
    p = probabilities[np.arange(len(labels)), labels]
    return (p >= threshold) & (p >= probabilities.max(axis=1))


def augmented_arrays(sampler, config, x_real, y_real, *, per_class=None, ratio=None, balance=False, balance_share=None,
                     classes=None, filter_threshold=None, classifier=None, max_rounds=DEFAULT_MAX_ROUNDS, seed=0,
                     temperature=1.0, return_report=False):
    """(x uint8 (N, H, W, C), y int64, is_synthetic bool): the real samples (with `balance`, then the real copies
    of `balance_copies`), then synthetic ones from a conditional run's `sampler` (see `synthetic_counts` for the
    amounts, `synthesize` for the filter, `generate.sample` for the temperature). What `augment` writes.

    `filter_threshold` turns the filter on, with `classifier` or else the reference classifier of the run's data;
    `return_report` adds the filter's report (None without the filter) as a fourth item.
    """
    num_classes = run_classes(config)
    x_real, y_real = check_real(x_real, y_real, config)
    counts = synthetic_counts(y_real, num_classes, per_class=per_class, ratio=ratio, balance=balance,
                              balance_share=balance_share, classes=classes)
    if filter_threshold is None:
        classifier = None
    elif classifier is None:
        classifier = evaluate.reference_classifier(config["dataset"], config.get("data_dir"))
    x_syn, y_syn, report = synthesize(sampler, config, counts, classifier=classifier, threshold=filter_threshold,
                                      max_rounds=max_rounds, seed=seed, temperature=temperature)
    rng = np.random.default_rng([seed, len(y_real)])
    copies = balance_copies(y_real, num_classes, counts, rng, classes) if balance else []
    augmented = combine(*with_copies(x_real, y_real, copies), x_syn, y_syn)
    return (*augmented, report) if return_report else augmented


def with_copies(x_real, y_real, copies):
    """The real samples followed by the ones at indices `copies` (repeated real images)."""
    keep = np.concatenate([np.arange(len(y_real)), np.asarray(copies, np.int64)])
    return x_real[keep], y_real[keep]


def read_labelled(dataset, path, config):
    """The labelled images of `path` (a data folder's train split or an .npz; None: $AUGMENT_TF_DATA_DIR or TFDS),
    checked against the run (`check_real`)."""
    (x, y), _ = data.split_labeled(*data.load_arrays(dataset, "train", path))
    return check_real(x, y, config)


def check_real(x, y, config):
    """Real images uint8 (N, H, W, C) and int64 labels that fit the run's image shape and classes."""
    x, y = np.asarray(x), np.asarray(y, np.int64)
    x = x[..., None] if x.ndim == 3 else x
    if x.shape[1:] != tuple(config["image_shape"]) or x.dtype != np.uint8:
        raise DataError(f"real images are {x.dtype} {x.shape[1:]} but the run makes uint8 "
                        f"{tuple(config['image_shape'])}: use the data the run was trained on")
    if len(y) != len(x) or y.min(initial=0) < 0 or y.max(initial=0) >= run_classes(config):
        raise DataError(f"real labels must be {len(x)} classes in 0..{run_classes(config) - 1}, "
                        f"got {len(y)} in {y.min(initial=0)}..{y.max(initial=0)}")
    return x, y


def filter_classifier(run_dir, dataset, data_dir, verbose=False):
    """(classifier, its name): what --filter scores samples with, the run's own classifier where it trained one (from
    unlabelled images too, so better than a reference trained on the few labelled ones), else the reference
    classifier (`verbose`: its first training shown on stderr)."""
    own = runs.path(run_dir, pseudo_labels.CLASSIFIER)
    if os.path.exists(own):
        return runs.load_model(own), f"the run's {pseudo_labels.CLASSIFIER}"
    return evaluate.reference_classifier(dataset, data_dir, verbose=verbose), "the reference classifier"


def combine(x_real, y_real, x_syn, y_syn):
    """Real then synthetic samples as (x, y, is_synthetic)."""
    is_synthetic = np.repeat([False, True], [len(x_real), len(x_syn)])
    return np.concatenate([x_real, x_syn]), np.concatenate([y_real, y_syn]).astype(np.int64), is_synthetic


def comparison_grid(x, y, is_synthetic, per_row=10):
    """uint8 grid: for each class with synthetic samples, a row of real ones then a row of synthetic ones."""
    rows = [x[(y == c) & (is_synthetic == s)][:per_row] for c in np.unique(y[is_synthetic]) for s in (False, True)]
    if not rows:
        return None
    blank = np.full((1, *x.shape[1:]), 255, np.uint8)
    padded = [np.concatenate([r, np.repeat(blank, per_row - len(r), axis=0)]) for r in rows]
    return images.grid(np.concatenate(padded), rows=len(rows))


# --- writers: each writes the data, then the grid and summary (when given) beside or inside it ---------------


def write_npz(path, x, y, is_synthetic, *, grid=None, summary=None):
    """PATH.npz (x, y, is_synthetic from `augmented_arrays`), written last, after PATH_grid.png and PATH.json."""
    base = os.path.splitext(os.fspath(path))[0]
    if grid is not None:
        files.write_png(f"{base}_grid.png", grid)
    if summary is not None:
        files.write_json(f"{base}.json", summary)
    files.write_npz(path, x=generate.for_file(x), y=np.asarray(y, np.int64), is_synthetic=np.asarray(is_synthetic))


def write_idx(folder, x, y, is_synthetic, *, grid=None, summary=None):
    """A folder of the MNIST train IDX pair plus train-is-synthetic-idx1-ubyte.gz (uint8 0/1), atomically."""
    if x.shape[-1] != 1 or y.max(initial=0) > 255:
        raise AugmentError("IDX files hold grayscale images and labels below 256: use --format npz or tfds")
    images_file, labels_file = data.IDX_FILES["train"]
    with files.atomic_dir(folder) as tmp:
        data.write_idx(os.path.join(tmp, f"{images_file}.gz"), x[..., 0])
        data.write_idx(os.path.join(tmp, f"{labels_file}.gz"), np.asarray(y).astype(np.uint8))
        data.write_idx(os.path.join(tmp, IS_SYNTHETIC_IDX), np.asarray(is_synthetic).astype(np.uint8))
        _write_extras(tmp, grid, summary)


def write_tfds(folder, x, y, is_synthetic, *, num_classes=None, grid=None, summary=None):
    """A TensorFlow Datasets folder (split "train", tfrecord, order kept), atomically; see `tfds_name` for its name."""
    import tensorflow_datasets as tfds

    name, version = tfds_name(folder)
    features = tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=x.shape[1:]),
        "label": tfds.features.ClassLabel(num_classes=num_classes or data.num_classes(y)),
        "is_synthetic": tfds.features.Scalar(np.bool_),
    })
    examples = ((i, {"image": x[i], "label": y[i], "is_synthetic": is_synthetic[i]}) for i in range(len(x)))
    with files.atomic_dir(folder) as tmp:
        build = os.path.join(tmp, ".build")
        builder = _supervised_builder(tfds)(name=name, version=version, features=features, data_dir=build,
                                            split_datasets={"train": examples}, disable_shuffling=True)
        with contextlib.redirect_stdout(io.StringIO()):  # tfds prints the temporary path it prepared
            builder.download_and_prepare(file_format="tfrecord",  # no GCS lookup: works offline
                                         download_config=tfds.download.DownloadConfig(try_download_gcs=False))
        for entry in os.listdir(builder.data_dir):
            os.replace(os.path.join(builder.data_dir, entry), os.path.join(tmp, entry))
        shutil.rmtree(build)
        _write_extras(tmp, grid, summary)


def tfds_name(folder):
    """(name, version) of a TFDS folder: NAME and X.Y.Z from a DIR/NAME/X.Y.Z path, so that
    `tfds.load(NAME, data_dir=DIR)` finds it too; else ("augmented", "1.0.0")."""
    folder = os.path.abspath(folder)
    name, version = os.path.basename(os.path.dirname(folder)), os.path.basename(folder)
    if re.fullmatch(r"\d+\.\d+\.\d+", version) and re.fullmatch(r"[a-z][a-z0-9_]*", name):
        return name, version
    return TFDS_NAME, TFDS_VERSION


def _supervised_builder(tfds):
    """tfds' AdhocBuilder, with ("image", "label") as supervised keys so that `as_supervised=True` works."""

    class AugmentedBuilder(tfds.dataset_builders.AdhocBuilder, skip_registration=True):
        def _info(self):
            return tfds.core.DatasetInfo(builder=self, description=__doc__.splitlines()[0], features=self._feature_spec,
                                         supervised_keys=("image", "label"), disable_shuffling=True)

    return AugmentedBuilder


def _write_extras(folder, grid, summary):
    if grid is not None:
        files.write_png(os.path.join(folder, "grid.png"), grid)
    if summary is not None:
        files.write_json(os.path.join(folder, "summary.json"), summary)


def output_format(out, fmt=None):
    """`fmt`, or the one OUT implies (.npz: npz, else an IDX folder), checked against OUT."""
    is_npz = out.endswith(".npz")
    fmt = fmt or ("npz" if is_npz else "idx")
    if is_npz != (fmt == "npz"):
        raise AugmentError(f"--format {fmt} writes " + ("an .npz file: end --out with .npz" if fmt == "npz" else
                                                         f"a folder, not {out}: drop the .npz from --out"))
    if fmt == "npz" and os.path.isdir(out):
        raise AugmentError(f"{out} is a folder: choose another --out")
    if fmt == "shards" and not os.path.isfile(os.path.join(out, shards.PLAN)):  # a plan: a rerun finishing it
        shards.check_new_folder(out)
    elif fmt not in ("npz", "shards"):
        files.check_replaceable_dir(out)
    return fmt


# --- command line -------------------------------------------------------------------------------------------


def main(argv=None):
    """CLI: the augmented dataset at --out, claimed for the command's life; one line on stdout when written."""
    args = parse_args(argv)
    with files.claim(args.out):
        sampler, config = runs.load_sampler(args.run_dir)
        num_classes = run_classes({**config, "run_dir": args.run_dir})
        args.classes = generate.parse_classes(args.classes, num_classes, "--classes") if args.classes else None
        if args.format == "idx" and config["image_shape"][-1] != 1:
            raise AugmentError("IDX files hold grayscale images only: use --format npz or tfds")
        dataset = args.dataset or config.get("dataset") or "mnist"
        if args.format == "shards":
            return write_streamed(args, sampler, config, dataset, num_classes)
        x_real, y_real = read_labelled(dataset, args.real or args.data_dir, config)
        held_out = load_held_out(args.held_out, dataset, config, x_real) if args.held_out else None
        x, y, is_synthetic, report = _augment(args, sampler, config, dataset, x_real, y_real)
        summary = _summary(args, config, dataset, y_real, y, is_synthetic, report)
        if not args.no_estimate:
            summary["estimate"] = _estimate(x_real, y_real, x[is_synthetic], y[is_synthetic], num_classes, args.seed,
                                            held_out)
        _write(args.out, args.format, x, y, is_synthetic, summary, num_classes)
    copies = sum(summary["real_copies_per_class"])
    copied = f" + {copies} real copies" if copies else ""
    print(f"wrote {len(x)} samples ({len(x_real)} real{copied} + {summary['n_synthetic']} synthetic) to {args.out}")
    return 0


def parse_args(argv=None):
    """The command line, every option checked (--format filled in from --out) before any work is done."""
    parser = argparse.ArgumentParser(prog=cli.prog("augment_tf.augment"), description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a conditional GAN or VAE training run")
    parser.add_argument("--out", required=True, help="an .npz file or a folder (IDX or TFDS)")
    parser.add_argument("--format", choices=FORMATS, help="default: npz for an .npz OUT, else idx")
    parser.add_argument("--synthetic-per-class", type=int, metavar="N", help="N synthetic samples of each class")
    parser.add_argument("--ratio", type=float, metavar="R", help="R synthetic per real sample of each class")
    parser.add_argument("--balance", action="store_true", help="top every class up to the largest class count")
    parser.add_argument("--balance-share", type=float, metavar="F", help="--balance: the share of each class's "
                        f"shortfall synthesised, the rest copies of its real images (default {BALANCE_SHARE:g})")
    parser.add_argument("--classes", help="only synthesise these classes, e.g. 3,5,8 (default: all)")
    parser.add_argument("--filter", action="store_true", help="keep only samples a classifier gives their label: the "
                        "run's own classifier.keras where it has one (an --unlabeled run), else the reference "
                        "classifier of the real data")
    parser.add_argument("--threshold", type=float,
                        help=f"--filter: least probability of the requested label (default {DEFAULT_THRESHOLD})")
    parser.add_argument("--max-rounds", type=int,
                        help=f"--filter: rounds of regeneration at most (default {DEFAULT_MAX_ROUNDS})")
    parser.add_argument("--real", metavar="PATH", help="real samples to augment: a data folder or .npz "
                        "(default: the train split of --data-dir / $AUGMENT_TF_DATA_DIR / TFDS)")
    parser.add_argument("--dataset", help="TensorFlow Datasets name (default: the run's)")
    parser.add_argument("--data-dir", help="local data (IDX folder or .npz): the real samples without --real, and "
                        f"what --filter's reference classifier learns; default ${data.DATA_DIR_ENV} or TFDS")
    parser.add_argument("--no-estimate", action="store_true", help="skip the estimate of whether the samples help "
                        f"(a {benefit.FOLDS}-fold cross-validation on the real images: {2 * benefit.FOLDS} small CNNs)")
    parser.add_argument("--held-out", metavar="PATH", help="labelled images the run never trained on (a data folder "
                        "or .npz, read as --real is): the estimate scores on these instead of cross-validating the "
                        "real images, which the generator may have copied")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same output bytes")
    args = parser.parse_args(argv)
    check_amount(args.synthetic_per_class, args.ratio, args.balance, args.balance_share)
    if args.held_out and args.format == "shards":
        raise AugmentError("--format shards writes no estimate (it needs the samples in memory), so --held-out has "
                           "nothing to score: drop it")
    if args.held_out and args.no_estimate:
        raise AugmentError("--held-out is what the estimate scores on: drop --no-estimate, or --held-out")
    args.threshold, args.max_rounds = _filter_options(args)
    args.format = output_format(args.out, args.format)
    return args


def _augment(args, sampler, config, dataset, x_real, y_real):
    """`augmented_arrays` as the command line asks: (x, y, is_synthetic, filter report or None)."""
    classifier, name = None, None
    if args.filter:
        classifier, name = filter_classifier(args.run_dir, dataset, args.data_dir, verbose=True)
    x, y, is_synthetic, report = augmented_arrays(
        sampler, config, x_real, y_real, per_class=args.synthetic_per_class, ratio=args.ratio, balance=args.balance,
        balance_share=args.balance_share, classes=args.classes, filter_threshold=args.threshold, classifier=classifier,
        max_rounds=args.max_rounds, seed=args.seed, return_report=True)
    report = report and {**report, "classifier": name}
    _report_filter(report)
    return x, y, is_synthetic, report


def _summary(args, config, dataset, y_real, y, is_synthetic, report):
    """The JSON summary written beside the data: sources, counts per class, the filter report; no estimate yet."""
    num_classes = run_classes(config)
    per_class = lambda labels: np.bincount(labels, minlength=num_classes).tolist()
    return {
        "run_dir": args.run_dir, "real_data": args.real or args.data_dir or os.environ.get(data.DATA_DIR_ENV)
        or f"tfds:{dataset}", "held_out_data": args.held_out, "format": args.format, "seed": args.seed,
        "n_real": len(y_real), "n_synthetic": int(is_synthetic.sum()), "real_per_class": per_class(y_real),
        "synthetic_per_class": per_class(y[is_synthetic]), "filter": report,
        "real_copies_per_class": per_class(y[~is_synthetic][len(y_real):]),
        "balance_share": (BALANCE_SHARE if args.balance_share is None else args.balance_share) if args.balance else None,
        "run_trained_on": {"labeled": config.get("n_labeled", config.get("n_train")),
                           "unlabeled": config.get("n_unlabeled", 0)},
        "estimate": None,
    }


def _write(out, fmt, x, y, is_synthetic, summary, num_classes):
    """The data in `fmt`, with the comparison grid and `summary` beside or inside it."""
    write = {"npz": write_npz, "idx": write_idx, "tfds": write_tfds}[fmt]
    extra = {"num_classes": num_classes} if fmt == "tfds" else {}
    if fmt == "tfds":
        import tensorflow_datasets as tfds

        tfds.display_progress_bar(False)
    write(out, x, y, is_synthetic, grid=comparison_grid(x, y, is_synthetic), summary=summary, **extra)


def _filter_options(args):
    """(threshold, max rounds) of --filter, checked; they mean nothing without it."""
    if not args.filter:
        if args.threshold is not None or args.max_rounds is not None:
            raise AugmentError("--threshold and --max-rounds only apply with --filter")
        return None, DEFAULT_MAX_ROUNDS
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    max_rounds = DEFAULT_MAX_ROUNDS if args.max_rounds is None else args.max_rounds
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
    if not len(x_syn) or min(x_real.shape[1:3]) < evaluate.MIN_CLASSIFIER_SIZE:
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


def write_streamed(args, sampler, config, dataset, num_classes):
    """--format shards: the real images, any --balance copies, then the synthetic samples, written as shards as they
    come, so that memory holds a chunk whatever the number of samples; a rerun finishes a killed write."""
    source, how = sources.open_source(dataset, "train", args.real or args.data_dir)
    progress.note(how, how is not None)
    runs.check_source(config, source, num_classes)
    real = np.pad(source.class_counts, (0, max(0, num_classes - len(source.class_counts))))
    if args.balance and source.streamed:
        raise AugmentError("--balance copies real images at random, and this --real is streamed: use --ratio or "
                           "--synthetic-per-class, or --format npz")
    counts = counts_for(real, per_class=args.synthetic_per_class, ratio=args.ratio, balance=args.balance,
                        balance_share=args.balance_share, classes=args.classes)
    copies = balance_copies(source.y, num_classes, counts, np.random.default_rng([args.seed, source.images]),
                            args.classes) if args.balance else np.zeros(0, np.int64)
    classifier = name = None
    if args.filter:
        classifier, name = filter_classifier(args.run_dir, dataset, args.data_dir, verbose=True)
    per_shard = shards.default_images_per_shard(config["image_shape"])
    plan = {"command": "augment", "run": os.path.abspath(args.run_dir), "real": os.path.abspath(source.name)
            if os.path.exists(source.name) else source.name, "counts": counts.tolist(), "copies": len(copies),
            "filter": name, "threshold": args.threshold, "max_rounds": args.max_rounds, "seed": args.seed,
            "images_per_shard": per_shard}
    skip = shards.resume_from(args.out, plan, per_shard)
    reports = []
    parts = [((x[y != data.UNLABELED], y[y != data.UNLABELED]) for x, y in source.chunks()),
             [(source.x[copies], source.y[copies])] if len(copies) else [],
             _synthetic_chunks(sampler, config, counts, classifier, args, reports, skip - int(real.sum()) - len(copies))]
    shards.write_shards(_skipped(itertools.chain(*parts), skip), args.out, per_shard, source=args.run_dir, plan=plan)
    report = reports and {"threshold": args.threshold, "classifier": name, "rounds": max(r["rounds"] for r in reports),
                          **{k: int(sum(r[k] for r in reports)) for k in ("generated", "rejected")},
                          **{k: np.sum([r[k] for r in reports], axis=0).tolist()
                             for k in ("rejected_per_class", "short_per_class")}}
    _report_filter(report or None)
    n_synthetic = int(counts.sum()) - (np.sum(report["short_per_class"]) if report else 0)
    summary = {"run_dir": args.run_dir, "real_data": source.name, "format": "shards", "seed": args.seed,
               "n_real": int(real.sum()), "real_copies": len(copies), "n_synthetic": int(n_synthetic),
               "order": "the first n_real + real_copies images are real, the rest synthetic",
               "real_per_class": real.tolist(), "synthetic_per_class": counts.tolist(), "filter": report or None,
               "estimate": None, "resumed_after": skip}
    files.write_json(os.path.join(args.out, "summary.json"), summary)
    print(f"wrote {int(real.sum()) + len(copies) + n_synthetic} samples ({int(real.sum())} real"
          f"{f' + {len(copies)} real copies' if len(copies) else ''} + {n_synthetic} synthetic) to {args.out}")
    return 0


def _synthetic_chunks(sampler, config, counts, classifier, args, reports, skip):
    """Chunks of the `counts` synthetic samples, chunk j of every class in proportion and shuffled (so that each shard
    holds every class), drawn with the seed (--seed, j); without a filter, chunks within the first `skip` are not
    drawn."""
    chunk, total = generate.CHUNK_BATCHES * 1000, int(counts.sum())
    for j, start in enumerate(range(0, total, chunk)):
        end = min(total, start + chunk)
        these = counts * end // max(total, 1) - counts * start // max(total, 1)  # exact totals over the chunks
        if end <= skip and classifier is None:  # the filter may leave a chunk short: those are drawn again
            yield int(these.sum())  # a count: skipped, not drawn
            continue
        x, y, report = synthesize(sampler, config, these, classifier=classifier, threshold=args.threshold,
                                  max_rounds=args.max_rounds, seed=(args.seed, j))
        if report:
            reports.append(report)
        order = np.random.default_rng([args.seed, j]).permutation(len(y))  # by class no more: every shard mixes them
        yield x[order], y[order]


def _skipped(chunks, skip):
    """`chunks` ((x, y) pairs, or counts of images not drawn) without their first `skip` images."""
    for item in chunks:
        n = item if isinstance(item, int) else len(item[1])
        if skip >= n:
            skip -= n
            continue
        if isinstance(item, int):
            raise RuntimeError("a chunk that was not drawn is needed")
        yield item[0][skip:], item[1][skip:]
        skip = 0


def _report_filter(report):
    """One stderr line for what the filter dropped, one more if some class stayed short."""
    if report is None:
        return
    print(f"filter: dropped {report['rejected']} of {report['generated']} generated samples ({report['classifier']} "
          f"below {report['threshold']} for their label) in {report['rounds']} rounds", file=sys.stderr)
    short = {c: n for c, n in enumerate(report["short_per_class"]) if n}
    if short:
        print(f"warning: after {report['rounds']} rounds, classes still short of samples (class: missing): {short}; "
              "lower --threshold, raise --max-rounds or train the run longer", file=sys.stderr)


if __name__ == "__main__":
    cli.run(main)
