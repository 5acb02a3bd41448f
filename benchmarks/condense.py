"""Condensed sets against coresets of real images and plain samples, by the condensation papers' protocol.

    python benchmarks/condense.py --data-dir ../shared/data/mnist --split validation --runs GAN_RUN,VAE_RUN \\
        --per-class 10 --seeds 0 --out benchmarks/results/condense/validation.jsonl [--rows condensed] [--steps 500]

For each K of --per-class and each seed, K images per class are made by each row and scored twice: by the papers'
ConvNet (`condense_protocol`, 300 epochs from scratch) and by the project's CNN (`reference.train_classifier`, its
fixed 2345 Adam steps), both on the real images `common.split_arrays` scores against (10k held-out training images
for validation; the test split for test). Rows:

- random real: K real training images per class, drawn with the seed;
- herding real, k-center real: chosen per class in the reference classifier's features (its 50k training images;
  herding matches the class mean greedily, k-center covers the class farthest-first from the image nearest the
  mean; both are the same for every seed, which then changes only the classifiers' start);
- random samples: K samples per class of each run, drawn with the seed;
- condensed: `augment_tf.condense` of each run (matching the training images; --steps, seed = the seed).

Each result is one JSON line appended to --out as it comes; a rerun skips what --out already holds.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from augment_tf import condensation, defaults, reference, runs, sampling  # noqa: E402
from benchmarks import condense_protocol  # noqa: E402
from benchmarks.common import split_arrays, split_dirs  # noqa: E402

CLASSES = 10
LITERATURE = {  # MNIST, ConvNet protocol: Zhao et al. 2021 (DC, DSA), Zhao & Bilen 2023 (DM); K = 1, 10, 50
    "random real": (64.9, 95.1, 97.9), "herding real": (89.2, 93.7, 94.8), "k-center real": (89.3, 84.4, 97.4),
    "DC": (91.7, 97.4, 98.8), "DSA": (88.7, 97.8, 99.2), "DM": (89.7, 97.5, 98.6), "whole training set": (99.6,) * 3,
}


def k_center(features, k):
    """Indices of `k` rows chosen farthest-first: the row nearest the mean, then each new one the farthest from
    those chosen (a random start would make K = 1 a random draw)."""
    chosen = [int(np.argmin(np.sum((features - features.mean(0)) ** 2, axis=1)))]
    distance = np.sum((features - features[chosen[0]]) ** 2, axis=1)
    for _ in range(k - 1):
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, np.sum((features - features[chosen[-1]]) ** 2, axis=1))
    return np.array(chosen)


def per_class(y, k, choose):
    """Indices of k rows of each class, `choose(rows of the class, k)` picking among them."""
    return np.concatenate([rows[choose(rows, k)] for rows in (np.flatnonzero(y == c) for c in range(CLASSES))])


def make_set(row, k, seed, train, features, run_dirs, steps):
    """(x uint8, y) of one row, and the seconds it took."""
    (x, y), rng, started = train, np.random.default_rng(seed), time.perf_counter()
    if row == "random real":
        chosen = per_class(y, k, lambda rows, k: rng.choice(len(rows), k, replace=False))
    elif row == "herding real":
        chosen = per_class(y, k, lambda rows, k: condensation.herd(features[rows], features[rows].mean(0), k))
    elif row == "k-center real":
        chosen = per_class(y, k, lambda rows, k: k_center(features[rows], k))
    else:
        kind, run_name = row.split(" of ")
        sampler, config = runs.load_sampler(run_dirs[run_name])
        if kind == "random samples":
            labels = np.repeat(np.arange(CLASSES), k)
            return sampling.sample(sampler, config, labels=labels, seed=seed), labels, time.perf_counter() - started
        xs, ys, _ = condensation.condense(sampler, config, [train], k, steps=steps, seed=seed)
        return xs, ys, time.perf_counter() - started
    return x[chosen], y[chosen], time.perf_counter() - started


def table(results):
    """A markdown table of results: each row's mean ± std over seeds for each K, by both classifiers."""
    ks = sorted({r["per_class"] for r in results})
    lines = ["| set | " + " | ".join(f"K = {k}: ConvNet | CNN | seconds to make" for k in ks) + " | seeds |",
             "|---|" + "---|---|---|" * len(ks) + "---|"]
    for row in dict.fromkeys(r["row"] for r in results):
        cells, seeds = [], set()
        for k in ks:
            mine = [r for r in results if r["row"] == row and r["per_class"] == k]
            seeds |= {r["seed"] for r in mine}
            if not mine:
                cells += [""] * 3
                continue
            for key in ("convnet", "cnn"):
                values = 100 * np.array([r[key] for r in mine])
                cells.append(f"{values.mean():.1f} ± {values.std():.1f}" if len(values) > 1 else f"{values[0]:.1f}")
            if len(mine) < len({r["seed"] for r in results}):
                cells[-2] += f" ({len(mine)} of the seeds)"
            cells.append(f"{np.mean([r['making_seconds'] for r in mine]):.0f}")
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {','.join(map(str, sorted(seeds)))} |")
    for name, figures in LITERATURE.items():
        lines.append(f"| literature: {name} | " + " | ".join(
            f"{figures[(1, 10, 50).index(k)]} | | " if k in (1, 10, 50) else " | | " for k in ks) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summarize", action="store_true", help="print --out's results as a table and stop")
    parser.add_argument("--data-dir")
    parser.add_argument("--split", choices=("validation", "test"))
    parser.add_argument("--runs", help="comma-separated conditional runs trained on --split's "
                        "training images (validation: train_*.py on the 50k folder split_dirs writes)")
    parser.add_argument("--per-class", default="1,10,50")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--rows", default="random real,herding real,k-center real,random samples,condensed",
                        help="rows to make; 'random samples' and 'condensed' are made from each run")
    parser.add_argument("--steps", type=int, default=defaults.CONDENSE_STEPS)
    parser.add_argument("--epochs", type=int, default=condense_protocol.EPOCHS)
    parser.add_argument("--out", required=True, help="a .jsonl file results are appended to")
    parser.add_argument("--work", default="/tmp/augment_tf_condense", help="scratch folder for the split's data files")
    args = parser.parse_args(argv)
    if args.summarize:
        with open(args.out) as f:
            print(table([json.loads(line) for line in f]))
        return 0
    if not (args.data_dir and args.split and args.runs):
        parser.error("--data-dir, --split and --runs are required unless --summarize")
    train, scored, _, _ = split_arrays(args.data_dir, args.split)
    run_dirs = {os.path.basename(os.path.normpath(r)): r for r in args.runs.split(",")}
    rows = []
    for row in args.rows.split(","):
        rows += [f"{row} of {name}" for name in run_dirs] if row in ("random samples", "condensed") else [row]
    features = None
    if {"herding real", "k-center real"} & set(rows):
        _, score_dir, _ = split_dirs(args.data_dir, args.split, os.path.join(args.work, "data"))
        features = reference.classifier_features(reference.reference_classifier("mnist", score_dir), train[0])
    done = set()
    if os.path.exists(args.out):
        with open(args.out) as f:
            done = {(r["row"], r["per_class"], r["seed"], r["steps"]) for r in map(json.loads, f)}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    for k in map(int, args.per_class.split(",")):
        for seed in map(int, args.seeds.split(",")):
            for row in rows:
                steps = args.steps if row.startswith("condensed") else None
                if (row, k, seed, steps) in done:
                    continue
                x, y, seconds = make_set(row, k, seed, train, features, run_dirs, args.steps)
                started = time.perf_counter()
                convnet = condense_protocol.train_and_score(x, y, *scored, seed=seed, epochs=args.epochs)
                convnet_seconds = time.perf_counter() - started
                cnn = reference.train_classifier(x, y, CLASSES, seed=seed)
                cnn_accuracy = float(np.mean(np.argmax(cnn.predict(scored[0][..., None], batch_size=1000, verbose=0),
                                                       -1) == scored[1]))
                result = {"split": args.split, "row": row, "per_class": k, "seed": seed, "steps": steps,
                          "convnet": convnet, "cnn": cnn_accuracy, "making_seconds": round(seconds, 1),
                          "convnet_seconds": round(convnet_seconds, 1), "epochs": args.epochs}
                print(json.dumps(result), flush=True)
                with open(args.out, "a") as f:
                    f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
