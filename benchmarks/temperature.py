"""What a sampling temperature buys (issue 48): today's default conditional GAN and VAE, trained once each, scored on
10k balanced samples drawn with their latent noise N(0, T^2 I) for each T, with and without the --filter.

    python benchmarks/temperature.py --data-dir ../shared/data/mnist --split validation --seed 0   # to choose
    python benchmarks/temperature.py --data-dir ../shared/data/mnist --split test --seed S \\
        --temperatures 1.0,T --filter-at none                                                   # to report, per seed
    python benchmarks/seeds.py benchmarks/results/temperature/test_seed{0,1,2}.json                # pooled
    python benchmarks/temperature.py --data-dir ../shared/data/mnist --split test --seed S --train-only  # runs only

Each run is `train_gan.py --conditional` / `train_vae.py --conditional` with default flags and --seed S, on the
split's training images (common.split_dirs), kept under --work-dir and reused when the same command comes again. The
scores are augment_tf.metrics' (FID, precision/recall, label fidelity, CAS), as `evaluate --cas` prints them.
The rule that chose the defaults, written before the runs, is in benchmarks/results/temperature/HISTORY.md.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from augment_tf import defaults, files, runs, synthesis, train_gan, train_vae  # noqa: E402
from augment_tf.reference import reference_classifier  # noqa: E402
from benchmarks.common import markdown, score, split_dirs  # noqa: E402

FAMILIES = {"gan": train_gan.main, "vae": train_vae.main}
N = 10_000
COLUMNS = ["model", "T", "filter", "fid", "precision", "recall", "label_fidelity", "cas"]


def trained_run(family, train_dir, work_dir, split, seed, extra=()):
    """The folder of a default conditional run of `family` on `train_dir` (plus `extra` flags: smoke runs only),
    trained unless a finished one is there."""
    run = os.path.join(work_dir, f"{family}-{split}-seed{seed}")
    config = os.path.join(run, runs.CONFIG)
    if os.path.exists(config) and os.path.exists(os.path.join(run, runs.read_config(run)["sampler"])):
        return run
    started = time.perf_counter()
    args = ["--conditional", "--data-dir", train_dir, "--seed", str(seed), "--out", run, *extra]
    FAMILIES[family](args + (["--resume"] if os.path.exists(config) else []))
    print(f"{family}: trained in {(time.perf_counter() - started) / 60:.1f} min", file=sys.stderr, flush=True)
    return run


def drawn(run, n, temperature, seed, classifier=None, threshold=defaults.FILTER_THRESHOLD):
    """`n` balanced samples of `run` at `temperature`, through the --filter when `classifier` is given."""
    sampler, config = runs.load_sampler(run)
    counts = np.full(config["num_classes"], n // config["num_classes"])
    x, y, _ = synthesis.synthesize(sampler, config, counts, classifier=classifier, threshold=threshold, seed=seed,
                                   temperature=temperature)
    return x, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--families", default="gan,vae")
    parser.add_argument("--temperatures", default="1.0,1.1,1.2,1.3,1.4,1.5")
    parser.add_argument("--filter-at", default="1.0,1.2,1.4", help="temperatures also scored with the filter, or none")
    parser.add_argument("--work-dir", default="runs/bench/temperature")
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--n", type=int, default=N, help=f"samples scored (default {N}; figures compare only at it)")
    parser.add_argument("--threshold", type=float, default=defaults.FILTER_THRESHOLD, help="the filter's (default "
                        f"{defaults.FILTER_THRESHOLD}, augment's)")
    parser.add_argument("--smoke", action="store_true", help="tiny runs of a few steps: checks the script only")
    parser.add_argument("--out", default="benchmarks/results/temperature")
    args = parser.parse_args(argv)
    train_dir, score_dir, _ = split_dirs(args.data_dir, args.split, args.work_dir)
    temperatures = [float(t) for t in args.temperatures.split(",")]
    filtered = [] if args.filter_at == "none" else [float(t) for t in args.filter_at.split(",")]
    rows = []
    for family in args.families.split(","):
        smoke = ["--steps", "3", "--width", "8", "--batch-size", "16"] if args.smoke else []
        run = trained_run(family, train_dir, args.work_dir, args.split, args.seed, smoke)
        if args.train_only:
            continue
        steps = 20 if args.smoke else None
        classifier = reference_classifier("mnist", score_dir, steps=steps) if filtered else None
        for temperature, with_filter in [(t, False) for t in temperatures] + [(t, True) for t in filtered]:
            started = time.perf_counter()
            x, y = drawn(run, args.n, temperature, args.seed, classifier if with_filter else None, args.threshold)
            name = f"conditional {family.upper()}, T {temperature:g}" + (", filtered" if with_filter else "")
            row = {"model": name, "T": temperature,  # the name tells rows apart when benchmarks/seeds.py pools seeds
                   "filter": args.threshold if with_filter else None, "seed": args.seed,
                   "split": args.split, **score(x, y, score_dir, args.n, True, steps),
                   "seconds": round(time.perf_counter() - started, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    if rows:
        name = f"{args.split}_seed{args.seed}"
        files.write_json(os.path.join(args.out, f"{name}.json"), {"command": " ".join(sys.argv), "rows": rows})
        files.write_text(os.path.join(args.out, f"{name}.md"), markdown(rows, COLUMNS) + "\n")
        print(markdown(rows, COLUMNS))


if __name__ == "__main__":
    main()
