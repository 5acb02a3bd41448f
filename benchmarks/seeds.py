"""Mean, spread and every seed of quality runs: one table from several gan_quality.py / vae_quality.py JSON files.

    python benchmarks/seeds.py benchmarks/results/gan_split/gan_quality_test_seed*.json [--out TABLE.md]

Rows with the same model and minutes are pooled across the files; each metric is shown as mean ± std (ddof 1)
followed by the value of each seed in file order.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from augment_tf import cli, files  # noqa: E402
from benchmarks.common import load_result  # noqa: E402

METRICS = ["steps", "images_per_s", "fid", "precision", "recall", "label_fidelity", "cas"]


def pooled(runs):
    """{(model, minutes): {metric: [value per run]}} over the quality rows of several result files."""
    groups = {}
    for run in runs:
        for row in run.get("rows") or run.get("quality"):
            group = groups.setdefault((row["model"], row.get("minutes")), {m: [] for m in METRICS})
            for metric in METRICS:
                if row.get(metric) is not None:
                    group[metric].append(float(row[metric]))
    return groups


def cell(values):
    """'mean ± std (v1, v2, ...)', or blank."""
    if not values:
        return ""
    digits = 0 if max(abs(v) for v in values) >= 100 else 3
    spread = f" ± {np.std(values, ddof=1):.{digits}f}" if len(values) > 1 else ""
    return f"{np.mean(values):.{digits}f}{spread} ({', '.join(f'{v:.{digits}f}' for v in values)})"


def table(groups):
    lines = ["| model | minutes | runs | " + " | ".join(METRICS) + " |", "|" + "---|" * (len(METRICS) + 3)]
    for (model, minutes), values in groups.items():
        runs = max(len(v) for v in values.values())
        lines.append(f"| {model} | {'' if minutes is None else f'{minutes:g}'} | {runs} | "
                     + " | ".join(cell(values[m]) for m in METRICS) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="JSON files written by gan_quality.py or vae_quality.py")
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    runs = [load_result(path, ("command",), "pass the JSON files of gan_quality.py or vae_quality.py")
            for path in args.results]
    text = table(pooled(runs)) + "\n"
    if args.out:
        files.write_text(args.out, text)
    print(text, end="")


if __name__ == "__main__":
    cli.run(main)
