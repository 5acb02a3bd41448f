"""What a run that knows its own quality buys (issue 49), scored on 10k balanced samples of each export at the
temperature the commands draw it with (its family's).

On MNIST: the default conditional GAN (22 epochs, the last epoch exported, the family temperature: --no-quality, the
default again after this benchmark's validation run), `--quality --minutes 10`, and `--quality --minutes 30` (the
10-minute run resumed: the same trajectory, 20 minutes more), each also at the temperature its held-out images chose
where that differs, and as its last epoch would have been. On a second MNIST-style set nobody tuned on, inverted digits
of five classes with 300 images each: one `--quality` run, its best-snapshot export against its last epoch.

    python benchmarks/training_budget.py --data-dir ../shared/data/mnist --split validation --seed 0   # to choose
    python benchmarks/training_budget.py --data-dir ../shared/data/mnist --split test --seed S         # to report

Runs are kept under --work-dir and reused when the same command comes again. Scores: augment_tf.metrics' (FID,
precision/recall, label fidelity, CAS), as `evaluate --cas` prints them, against the split's held-out images.
"""

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from augment_tf import files, runs, sampling, synthesis, train_gan, train_vae  # noqa: E402
from benchmarks.common import markdown, score, split_arrays, split_dirs  # noqa: E402

N = 10_000
COLUMNS = ["model", "export", "epoch", "T", "train_minutes", "fid", "precision", "recall", "label_fidelity", "cas"]
SECOND_CLASSES, SECOND_PER_CLASS = (0, 1, 2, 3, 4), 300  # the second set: its classes, and their training images


def trained(run, argv, resume_argv=None):
    """`run`, trained by train_gan with `argv` unless finished (resumed with `resume_argv` if given and unfinished)."""
    if os.path.exists(runs.path(run, "generator.keras")) and not resume_argv:
        return run
    started = time.perf_counter()
    config = runs.path(run, runs.CONFIG)
    train_gan.main([*argv, "--out", run, *(["--resume"] if os.path.exists(config) else [])]
                   if not resume_argv else [*resume_argv, "--out", run, "--resume"])
    print(f"{run}: trained in {(time.perf_counter() - started) / 60:.1f} min", file=sys.stderr, flush=True)
    return run


def scored(name, run, score_dir, seed, n, last=False, temperature=None, smoke=False):
    """A row: the run's export (or its last epoch's averaged generator) scored at `temperature` (default: the one the
    commands draw the run with)."""
    config = runs.read_config(run)
    sampler = runs.load_checkpoint(run, config).sampler if last else runs.load_sampler(run, config)[0]
    temperature = sampling.default_temperature(config) if temperature is None else temperature
    classes = np.unique(np.load(os.path.join(score_dir, "train.npz"))["y"])
    counts = np.zeros(config["num_classes"], np.int64)
    counts[classes] = n // len(classes)
    x, y, _ = synthesis.synthesize(sampler, config, counts, seed=seed, temperature=temperature)
    state = json.load(open(runs.path(run, runs.STATE)))
    epoch = state["epoch"] if last or not config.get("best") else config["best"]["epoch"]
    row = {"model": name, "export": "last epoch" if last else "exported", "epoch": epoch, "T": temperature,
           "train_minutes": round(state.get("seconds", 0) / 60, 1), "seed": config["seed"],
           **score(x, y, score_dir, n, True, 20 if smoke else None)}
    print(json.dumps(row), flush=True)
    return row


def own_and_family(name, run, score_dir, args, last_too=False):
    """Rows of the run's export at the family temperature (what the commands draw at) and, where the held-out rule
    chose another (`held_out_temperature`), at that one; with `last_too`, its last epoch at the family temperature as
    well (what the run exported before it knew its quality)."""
    config = runs.read_config(run)
    rows = [scored(name, run, score_dir, args.seed, args.n, smoke=args.smoke)]
    chosen = config.get("held_out_temperature")
    if chosen is not None and chosen != sampling.default_temperature(config):
        rows.append(scored(name, run, score_dir, args.seed, args.n, temperature=chosen, smoke=args.smoke))
    if last_too:
        rows.append(scored(name, run, score_dir, args.seed, args.n, last=True, smoke=args.smoke))
    return rows


def vae_cost(run, train_dir, common, smoke=False):
    """A row of what the held-out curve cost a default conditional VAE of 3 epochs (1 for smoke runs), from its
    quality.json: scoring seconds over training seconds, and the temperature choice's seconds."""
    if not os.path.exists(runs.path(run, "sampler.keras")):
        train_vae.main([*common, "--quality", "--data-dir", train_dir, "--epochs", "1" if smoke else "3", "--out", run])
    record = json.load(open(runs.path(run, runs.QUALITY)))
    row = {"model": "MNIST cVAE, 3 epochs: the curve's cost", "export": "exported", "epoch": record["best"]["epoch"],
           "scoring_share": record["scoring_share"], "temperature_seconds": record["temperature_seconds"],
           "score_seconds": [r["score_seconds"] for r in record["records"]],
           "train_seconds": [r["train_seconds"] for r in record["records"]]}
    print(json.dumps(row), flush=True)
    return row


def second_set(data_dir, split, work_dir, seed, per_class=SECOND_PER_CLASS):
    """(train .npz, score folder) of the second set: inverted digits of SECOND_CLASSES, `per_class` each drawn
    from the split's training images; scored against the split's held-out images of those classes, inverted, with a
    reference classifier trained on all the split's other training images of them."""
    train, score_split, rest, _ = split_arrays(data_dir, split, seed)
    rng = np.random.default_rng(seed)
    pick = lambda y: np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False)
                                             for c in SECOND_CLASSES]))
    of_classes = lambda arrays: (255 - arrays[0][np.isin(arrays[1], SECOND_CLASSES)],
                                 arrays[1][np.isin(arrays[1], SECOND_CLASSES)])
    x, y = of_classes(train)
    rows = pick(y)
    folder = os.path.join(work_dir, f"inverted-{split}-seed{seed}")
    files.write_npz(os.path.join(folder, "small.npz"), x=x[rows], y=y[rows])
    reference_x, reference_y = of_classes(rest)
    files.write_npz(os.path.join(folder, "score", "train.npz"), x=reference_x, y=reference_y)
    test_x, test_y = of_classes(score_split)
    files.write_npz(os.path.join(folder, "score", "test.npz"), x=test_x, y=test_y)
    return os.path.join(folder, "small.npz"), os.path.join(folder, "score")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", default="10,30", help="the two budgets, the second the first resumed")
    parser.add_argument("--parts", default="mnist,second", help="mnist, second, and vae-cost: what the curve costs a "
                        "default cVAE (3 epochs), which fits its prior before each scoring")
    parser.add_argument("--work-dir", default="runs/bench/training_budget")
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--per-class", type=int, default=SECOND_PER_CLASS, help="the second set's training images "
                        f"per class (default {SECOND_PER_CLASS})")
    parser.add_argument("--smoke", action="store_true", help="tiny runs of a few steps: checks the script only")
    parser.add_argument("--out", default="benchmarks/results/training_budget")
    args = parser.parse_args(argv)
    short, long = (float(m) for m in args.minutes.split(","))
    tiny = ["--width", "8", "--batch-size", "16", "--latent-dim", "8"] if args.smoke else []
    common = ["--conditional", "--seed", str(args.seed), *tiny]
    work = lambda name: os.path.join(args.work_dir, f"{name}-{args.split}-seed{args.seed}")
    rows = []
    if "mnist" in args.parts:
        train_dir, score_dir, _ = split_dirs(args.data_dir, args.split, args.work_dir, args.seed)
        mnist = [*common, "--data-dir", train_dir]
        before = trained(work("defaults-no-quality"), [*mnist, "--no-quality", *(["--epochs", "2"] if args.smoke
                                                                                  else [])])
        rows.append(scored("MNIST cGAN, defaults before (22 epochs)", before, score_dir, args.seed, args.n,
                           smoke=args.smoke))
        run = trained(work(f"minutes{short:g}"), [*mnist, "--quality", "--minutes", str(short)])
        kept = work(f"minutes{short:g}-kept")  # the short run as it ended, before the long one resumes it
        if not os.path.exists(kept):
            shutil.copytree(run, kept)
        rows += own_and_family(f"MNIST cGAN, --minutes {short:g}", kept, score_dir, args, last_too=True)
        if not os.path.exists(runs.path(run, "long.done")):
            trained(run, None, [*mnist, "--quality", "--minutes", str(long)])
            files.write_text(runs.path(run, "long.done"), "")
        rows += own_and_family(f"MNIST cGAN, --minutes {long:g}", run, score_dir, args, last_too=True)
    if "second" in args.parts:
        small, score_dir = second_set(args.data_dir, args.split, args.work_dir, args.seed, args.per_class)
        run = trained(work("inverted"), [*common, "--quality", "--data-dir", small,
                                         *(["--steps", "30"] if args.smoke else [])])
        rows += own_and_family(f"inverted digits 0-4, {args.per_class} each", run, score_dir, args, last_too=True)
    if "vae-cost" in args.parts:
        rows.append(vae_cost(work("vae-cost"), split_dirs(args.data_dir, args.split, args.work_dir, args.seed)[0],
                             common, args.smoke))
    name = f"{args.split}_seed{args.seed}" + ("" if args.parts == "mnist,second" else "_" + args.parts.replace(",", "_"))
    files.write_json(os.path.join(args.out, f"{name}.json"), {"command": " ".join(sys.argv), "rows": rows})
    files.write_text(os.path.join(args.out, f"{name}.md"), markdown(rows, COLUMNS) + "\n")
    print(markdown(rows, COLUMNS))


if __name__ == "__main__":
    main()
