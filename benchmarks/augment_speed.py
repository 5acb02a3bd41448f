"""How long `python -m augment_tf.augment` takes to write 60,000 synthetic samples (plus the real training split).

    python benchmarks/augment_speed.py --data-dir ../shared/data/mnist [--runs GAN_RUN VAE_RUN] [--repeats 3]

Without --runs it first trains a conditional GAN and VAE with the default architecture for --train-steps steps
(generation speed depends on the architecture, not on how long it trained). Each timing is the whole command as a
user runs it: process start, TensorFlow import, loading the real split and the generator, generating, writing the
file atomically; without the estimate of whether the samples help (`--no-estimate`: timed apart, benchmarks/README.md).
Prints one JSON line per run and format, and a markdown table of the medians; writes --out.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from augment_tf import cli, data, files, runs  # noqa: E402
from augment_tf.errors import AugmentError  # noqa: E402
from benchmarks.common import markdown  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYNTHETIC_PER_CLASS = 6000  # 60,000 in all


def command(*argv):
    """Runs `python argv...` from the project root, quietly; the seconds it took. A failure is a user error for
    cli.run: the command has printed its own one-line error above."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    begin = time.perf_counter()
    status = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, stdout=subprocess.DEVNULL).returncode
    if status:
        raise AugmentError(f"{' '.join(argv[:2])} failed (exit {status}); see its error above")
    return time.perf_counter() - begin


def train_runs(work_dir, data_dir, steps):
    """Default-architecture conditional GAN and VAE runs, `steps` optimizer steps each."""
    trained = []
    for script in ("train_gan.py", "train_vae.py"):
        run_dir = os.path.join(work_dir, script.split("_")[1].split(".")[0])
        command(script, "--conditional", "--steps", str(steps), "--data-dir", data_dir, "--out", run_dir)
        trained.append(run_dir)
    return trained


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--runs", nargs="+", help="conditional run directories (default: train small ones)")
    parser.add_argument("--train-steps", type=int, default=100, help="steps of the runs trained without --runs")
    parser.add_argument("--repeats", type=int, default=3, help="timings per run and format; the median is reported")
    parser.add_argument("--formats", default="npz,idx", help="output formats to time (npz, idx, tfds)")
    parser.add_argument("--out", default="benchmarks/results/augment_speed.json", help="JSON of the rows and command")
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("--data-dir (or $AUGMENT_TF_DATA_DIR) is needed: the real training split is part of the output")
    rows = []
    with tempfile.TemporaryDirectory() as work_dir:
        run_dirs = args.runs or train_runs(work_dir, args.data_dir, args.train_steps)
        for run_dir in run_dirs:
            model = runs.read_json(run_dir, runs.CONFIG)["model"]
            for fmt in args.formats.split(","):
                outs = [os.path.join(work_dir, f"{model}_{i}.{fmt}") for i in range(args.repeats)]  # folders: new
                seconds = sorted(
                    command("-m", "augment_tf.augment", run_dir, "--out", out, "--format", fmt, "--data-dir",
                            args.data_dir, "--synthetic-per-class", str(SYNTHETIC_PER_CLASS), "--no-estimate")
                    for out in outs)
                row = {"model": model, "format": fmt, "synthetic": 10 * SYNTHETIC_PER_CLASS,
                       "seconds_median": seconds[len(seconds) // 2], "seconds_all": [round(s, 1) for s in seconds]}
                row["synthetic_per_s"] = row["synthetic"] / row["seconds_median"]
                print(json.dumps(row), flush=True)
                rows.append(row)
    files.write_json(args.out, {"rows": rows, "command": " ".join(sys.argv)})
    print(markdown(rows, ["model", "format", "synthetic", "seconds_median", "synthetic_per_s", "seconds_all"]))


if __name__ == "__main__":
    cli.run(main)
