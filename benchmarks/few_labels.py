"""Few labels plus unlabelled images: what an `--unlabeled` run's data and classifier are worth to a classifier.

    python benchmarks/few_labels.py --data-dir ../shared/data/mnist --split validation --seeds 2    # to choose
    python benchmarks/few_labels.py --data-dir ../shared/data/mnist --split test --first-seed 10 --seeds 5  # report
    python benchmarks/few_labels.py --data-dir ../shared/data/mnist --split test --labels 600,6000 --seeds 1 \
        --first-seed 10 --out benchmarks/results/few_labels/curve                      # 1% and 10% of the labels
    python benchmarks/few_labels.py --pool A.json B.json --out AB               # seeds run apart, one report
    python benchmarks/few_labels.py --data-dir DIR --labels 20 --seeds 1 --gen-steps 20 --classifier-steps 20 \
        --recipe-steps 20 --n 200 --out /tmp/smoke                                        # smoke, never a figure

Pool: the training images of --split (common.split_arrays: validation, the 50k not held out, scored on the held-out
10k; test, all 60k, scored on the 10k test images). Per seed and --labels L: L/10 images of each class keep their
labels, the rest of the pool is unlabelled. One conditional run (--generator, its defaults) trains on both
(`--data-dir labelled.npz --unlabeled unlabelled.npz`). Arms, each scored on the scored split:
  labelled only / + classical: reference.train_classifier, the recipe of evaluate's CAS (a fixed --recipe-steps budget
  of batch 128; classical: reference.build_classifier's shift/rotate/zoom layers) on the L labelled images;
  the run's classifier.keras; augment's output (the L labelled images + --synthetic-per-class per class) through
  the same recipe, without and with classical augmentation; and the generator's FID, label fidelity and CAS
  (evaluate, 10k samples). "all labels" trains the recipe on the whole pool labelled: the ceiling.
Writes OUT.json (every row, rewritten after each seed) and OUT.md (mean ± std, min-max, each seed). --pool joins
runs of one recipe made apart (e.g. one seed a session) into one OUT, refusing a seed twice.
"""

import argparse
import ast
import contextlib
import io
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import augment_tf  # noqa: E402

augment_tf.load_tensorflow()  # first: TensorFlow without the start-up notes keras's import would print
from augment_tf import cli, data, files, images, pseudo_labels, reference, runs, sampling, synthesis  # noqa: E402
from augment_tf import train_gan, train_vae, training  # noqa: E402
from benchmarks import augmentation_benefit as benefit  # noqa: E402
from benchmarks.common import pool_files, score, split_arrays, split_dirs  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

GENERATORS = {"gan": train_gan, "vae": train_vae}
NUM_CLASSES = 10


def draw_labels(y, labels, rng):
    """Boolean mask: `labels` / NUM_CLASSES images of each class, drawn without replacement, keep their label."""
    keep = np.zeros(len(y), bool)
    for c in range(NUM_CLASSES):
        keep[rng.choice(np.flatnonzero(y == c), labels // NUM_CLASSES, replace=False)] = True
    return keep


def accuracy(model, x, y):
    """Share of uint8 images `x` that `model` gives their label `y` (augmentation_benefit's scores)."""
    return benefit.scores(model, x, y)["accuracy"]


def confusion(model, x, y):
    """Counts [true class][predicted class] of `model` on uint8 images `x`: where its errors lie."""
    predicted = model.predict(np.asarray(x, np.float32), batch_size=1000, verbose=0).argmax(axis=1)
    return np.bincount(y * NUM_CLASSES + predicted, minlength=NUM_CLASSES ** 2).reshape(NUM_CLASSES, -1).tolist()


def pseudo_label_quality(probabilities, truth, thresholds=(0.0, 0.5, 0.9, 0.95, 0.99)):
    """{threshold: (share of unlabelled images at or above that confidence, accuracy of their labels)}."""
    confidence, predicted = probabilities.max(axis=1), probabilities.argmax(axis=1)
    quality = {}
    for t in thresholds:
        kept = confidence >= t
        quality[str(t)] = (float(kept.mean()), float(np.mean(predicted[kept] == truth[kept])) if kept.any() else None)
    return quality


class AccuracyCurve(keras.callbacks.Callback):
    """(steps, accuracy on `scored`, share of confident unlabelled images) at each epoch end, printed too."""

    def __init__(self, scored):
        super().__init__()
        self.scored, self.points = scored, []

    def on_epoch_end(self, epoch, logs=None):
        steps = int(self.model.optimizer.iterations.numpy())
        self.points.append((steps, accuracy(self.model.predictor, *self.scored), float(logs.get("confident", 0))))
        print(f"  step {steps}: accuracy {self.points[-1][1]:.4f}, confident {self.points[-1][2]:.3f}", flush=True)


def train_run(kind, x, y, labelled, seed, args, work_dir):
    """(sampler, config, seconds): `kind`'s training script, --conditional, on the labelled images with the rest
    unlabelled, defaults but for --seed (and the smoke-test lengths)."""
    files.write_npz(os.path.join(work_dir, "labelled.npz"), x=images.for_file(x[labelled]), y=y[labelled])
    files.write_npz(os.path.join(work_dir, "unlabelled.npz"), x=images.for_file(x[~labelled]))
    run_dir = os.path.join(work_dir, kind)
    argv = ["--conditional", "--data-dir", os.path.join(work_dir, "labelled.npz"),
            "--unlabeled", os.path.join(work_dir, "unlabelled.npz"), "--out", run_dir, "--seed", str(seed)]
    argv += ["--steps", str(args.gen_steps)] if args.gen_steps else []
    argv += ["--classifier-steps", str(args.classifier_steps)] if args.classifier_steps else []
    begin = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        GENERATORS[kind].main(argv)
    return (*runs.load_sampler(run_dir), time.perf_counter() - begin)


def one_seed(pool, scored, score_dir, labels, seed, args, work_dir):
    """Rows of every arm for one draw of `labels` labelled images."""
    x, y = pool
    labelled = draw_labels(y, labels, np.random.default_rng([seed, labels]))
    context = {"labels": labels, "seed": seed}
    rows = []

    def add(arm, value, **extra):
        rows.append({**context, "arm": arm, "accuracy": value, **extra})
        print(json.dumps(rows[-1]), flush=True)

    if args.classifier_only:  # the labelling classifier alone, as a run trains it: for choosing its settings
        curve = AccuracyCurve(scored)
        begin = time.perf_counter()
        model = pseudo_labels.train_semi_supervised(x, np.where(labelled, y, data.UNLABELED), NUM_CLASSES, seed=seed,
                                                    steps=args.classifier_steps or pseudo_labels.STEPS,
                                                    callbacks=[curve], **args.classifier_option)
        seconds = time.perf_counter() - begin
        probabilities = model.predictor.predict(np.asarray(x[~labelled], np.float32), batch_size=1000, verbose=0)
        add("run's classifier alone", accuracy(model.predictor, *scored), seconds=seconds, curve=curve.points,
            pseudo_labels=pseudo_label_quality(probabilities, y[~labelled]), confusion=confusion(model.predictor, *scored))
        return rows
    recipe = dict(num_classes=NUM_CLASSES, seed=seed, steps=args.recipe_steps)
    fit = reference.train_classifier
    add("labelled only", accuracy(fit(x[labelled], y[labelled], **recipe), *scored))
    add("labelled + classical", accuracy(fit(x[labelled], y[labelled], classical=True, **recipe), *scored))
    sampler, config, seconds = train_run(args.generator, x, y, labelled, seed, args, work_dir)
    run_classifier = runs.load_model(runs.path(config["run_dir"], pseudo_labels.CLASSIFIER))
    add("run's classifier.keras", accuracy(run_classifier, *scored), run_seconds=seconds,
        pseudo_label_accuracy=float(np.mean(training.training_source(config).y[labelled.sum():] == y[~labelled])))
    x_aug, y_aug, _ = synthesis.augmented_arrays(sampler, config, x[labelled], y[labelled],
                                               per_class=args.synthetic_per_class, seed=seed)
    add("augment output", accuracy(fit(x_aug, y_aug, **recipe), *scored), n_train=len(y_aug))
    add("augment output + classical", accuracy(fit(x_aug, y_aug, classical=True, **recipe), *scored))
    sample_labels = sampling.balanced_labels(args.n, range(NUM_CLASSES))
    samples = sampling.sample(sampler, config, labels=sample_labels, seed=seed)
    quality = score(samples, sample_labels, score_dir, args.n, True)
    add("generator CAS", quality["cas"], fid=quality["fid"], label_fidelity=quality["label_fidelity"])
    return rows


def summary_table(rows):
    """Markdown: per (labels, arm), mean ± std (min-max) and each seed's accuracy; FID and fidelity beside CAS."""
    lines = ["| labels | arm | accuracy: mean ± std (min-max) | each seed | extra (mean) |", "|---|---|---|---|---|"]
    keys = list(dict.fromkeys((r["labels"], r["arm"]) for r in rows))
    for labels, arm in keys:
        group = [r for r in rows if (r["labels"], r["arm"]) == (labels, arm)]
        acc = np.array([r["accuracy"] for r in group])
        spread = f"{acc.mean():.4f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.4f} ({acc.min():.4f}-{acc.max():.4f})"
        extra = {k: np.mean([r[k] for r in group]) for k in ("fid", "label_fidelity", "pseudo_label_accuracy")
                 if k in group[0]}
        lines.append(f"| {labels} | {arm} | {spread} | {', '.join(f'{a:.4f}' for a in acc)} | "
                     + ", ".join(f"{k} {v:.4f}" for k, v in extra.items()) + " |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--split", choices=["validation", "test"], default="test",
                        help="validation: choose on held-out training images; test: report the final choice")
    parser.add_argument("--labels", default="100", help="labelled images in all, e.g. 100,600,6000")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--generator", choices=list(GENERATORS), default="gan")
    parser.add_argument("--gen-steps", type=int, help="smoke runs only: generator steps instead of its default")
    parser.add_argument("--classifier-steps", type=int, help="the run's --classifier-steps (default: its default)")
    parser.add_argument("--recipe-steps", type=int, default=reference.STEPS, help="steps of each recipe classifier")
    parser.add_argument("--synthetic-per-class", type=int, default=1000, help="augment's samples per class")
    parser.add_argument("--n", type=int, default=10_000, help="samples scored for FID, fidelity and CAS")
    parser.add_argument("--classifier-only", action="store_true",
                        help="train and score only the run's labelling classifier (no generator): to choose its settings")
    parser.add_argument("--classifier-option", action="append", default=[], metavar="NAME=VALUE",
                        help="with --classifier-only: a setting of pseudo_labels.train_semi_supervised to try, e.g. "
                        "threshold=0.9, ema_decay=None, erase=0.4, unlabeled_batch=256 (repeatable)")
    parser.add_argument("--all-labels", action=argparse.BooleanOptionalAction, default=True,
                        help="also train the recipe on the whole pool labelled (the ceiling)")
    parser.add_argument("--out", default="benchmarks/results/few_labels/few_labels")
    parser.add_argument("--pool", nargs="+", metavar="JSON",
                        help="run nothing: pool earlier runs' OUT.json files (seeds run apart, same recipe) into "
                        "OUT.json and OUT.md")
    args = parser.parse_args(argv)
    args.labels = [int(v) for v in args.labels.split(",")]
    args.classifier_option = {name: ast.literal_eval(value)
                              for name, value in (option.split("=", 1) for option in args.classifier_option)}
    if any(v < NUM_CLASSES or v % NUM_CLASSES for v in args.labels):
        parser.error("--labels must be multiples of 10 (the same number of each class)")
    return args


# the settings that make two runs' rows comparable: the recipe, not the seeds
RECIPE = ("generator", "gen_steps", "classifier_steps", "recipe_steps", "synthetic_per_class", "n",
          "classifier_only", "classifier_option")


def pool_runs(paths, out):
    """OUT.json and OUT.md from the rows of several runs of one recipe (seeds run apart, reported together)."""
    pooled, _ = pool_files(paths, ("labels", "arm", "seed"), RECIPE)
    files.write_json(f"{out}.json", pooled)
    text = f"{summary_table(pooled['rows'])}\n\nScored split: {pooled['split']}. Pooled from: {', '.join(paths)}.\n"
    files.write_text(f"{out}.md", text)
    print(text)


def main(argv=None):
    args = parse_args(argv)
    if args.pool:
        return pool_runs(args.pool, args.out)
    pool, scored, _, _ = split_arrays(args.data_dir, args.split)
    rows, begin = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        _, score_dir, _ = split_dirs(args.data_dir, args.split, os.path.join(scratch, "data"))
        reference.reference_classifier("mnist", score_dir)  # trained (or loaded) once, before any run
        if args.all_labels:
            model = reference.train_classifier(*pool, NUM_CLASSES, seed=args.first_seed, steps=args.recipe_steps)
            rows.append({"labels": len(pool[1]), "seed": args.first_seed, "arm": "all labels (ceiling)",
                         "accuracy": accuracy(model, *scored)})
            print(json.dumps(rows[-1]), flush=True)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for labels in args.labels:
                with tempfile.TemporaryDirectory() as work_dir:
                    rows += one_seed(pool, scored, score_dir, labels, seed, args, work_dir)
                files.write_json(f"{args.out}.json", {"rows": rows, "split": args.split, "settings": vars(args),
                                                      "command": " ".join(sys.argv)})
    minutes = (time.perf_counter() - begin) / 60
    text = f"{summary_table(rows)}\n\nScored split: {args.split}. Total time: {minutes:.1f} min.\n"
    files.write_text(f"{args.out}.md", text)
    print(text)


if __name__ == "__main__":
    cli.run(main)
