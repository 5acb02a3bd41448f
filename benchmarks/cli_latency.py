"""How long `augment-tf` takes to answer where it needs no model: `--help`, each command's `--help`, and an argument
or path error for each command.

    python benchmarks/cli_latency.py [--repeats 5] [--out benchmarks/results/cli_latency/latency.json]

Each timing is the whole process as a user starts it (`python -m augment_tf.cli ...`: interpreter start, imports,
parsing, the one-line answer), the median of --repeats. Prints one JSON line per case, then a markdown table, the
slowest case and whether TensorFlow was imported by any case (it should not be); writes --out.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from augment_tf import cli, files  # noqa: E402
from benchmarks.common import markdown  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MISSING = "no_such_run"  # a run folder that does not exist, for the path errors

# (case, argv, expected exit status): one --help and one error that needs no model per command
CASES = [("augment-tf --help", ["--help"], 0)] + [
    case for name in cli.COMMANDS for case in (
        (f"{name} --help", [name, "--help"], 0),
        (f"{name}: bad path", [name, *{
            "train-gan": ["--resume", "--out", MISSING],
            "train-vae": ["--resume", "--out", MISSING],
            "evaluate": [MISSING + ".npz"],
            "shard": ["{tmp}/" + MISSING, "--out", "{tmp}/shards"],  # a bare name is a TFDS name: that needs TF
            "pictures": [MISSING, "--out", "{tmp}/pictures"],
            "condense": [MISSING, "--per-class", "10", "--out", "{tmp}/small.npz"],
            "generate": [MISSING, "--n", "10", "--out", "{tmp}/samples.npz"],
            "augment": [MISSING, "--synthetic-per-class", "10", "--out", "{tmp}/augmented.npz"],
        }.get(name, [MISSING, "--in", MISSING + ".npz", "--out", "{tmp}/out.npz"])], 2),
    )
]

# what the timed process runs: the CLI, then a note on stderr of whether TensorFlow was imported
PROBE = "import sys; from augment_tf import cli\ntry:\n    cli.main(sys.argv[1:])\nfinally:\n" \
        "    print('tensorflow imported' if 'tensorflow' in sys.modules else '', file=sys.stderr)"


def time_case(argv, expected, tmp):
    """(seconds, whether TensorFlow was imported) of one run of `argv`; a wrong exit status is an error."""
    argv = [arg.replace("{tmp}", tmp) for arg in argv]
    begin = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=tmp, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": ROOT})
    seconds = time.perf_counter() - begin
    if result.returncode != expected:
        raise SystemExit(f"{' '.join(argv)}: exit {result.returncode}, expected {expected}:\n{result.stderr}")
    return seconds, "tensorflow imported" in result.stderr


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each case; the median counts (default 5)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks/results/cli_latency/latency.json"))
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case, case_argv, expected in CASES:
            runs = [time_case(case_argv, expected, tmp) for _ in range(args.repeats)]
            row = {"case": case, "median_s": round(statistics.median(s for s, _ in runs), 3),
                   "max_s": round(max(s for s, _ in runs), 3), "tensorflow_imported": any(tf for _, tf in runs)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(markdown(rows, ["case", "median_s", "max_s", "tensorflow_imported"]))
    slowest = max(rows, key=lambda row: row["median_s"])
    print(f"slowest: {slowest['case']} {slowest['median_s']} s (median of {args.repeats}); TensorFlow imported: "
          f"{any(row['tensorflow_imported'] for row in rows)}")
    files.write_json(args.out, {"command": "python benchmarks/cli_latency.py " + " ".join(argv or sys.argv[1:]),
                                "repeats": args.repeats, "cases": rows})


if __name__ == "__main__":
    cli.run(main)
