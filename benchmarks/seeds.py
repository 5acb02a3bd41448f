"""Mean, spread and every seed of quality runs: one table from several gan_quality.py / vae_quality.py JSON files.

    python benchmarks/seeds.py benchmarks/results/gan_split/gan_quality_test_seed*.json [--out TABLE.md]

Rows with the same model and minutes (or the fields `--by` names) are pooled across the files; each metric is shown
as mean ± std (ddof 1) followed by the value of each seed in file order.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from augment_tf import cli, files  # noqa: E402
from augment_tf.errors import AugmentError  # noqa: E402
from benchmarks.common import load_result  # noqa: E402

METRICS = ["steps", "images_per_s", "fid", "precision", "recall", "label_fidelity", "cas"]
BY = ("model", "minutes")


def pooled(runs, by=BY, metrics=METRICS):
    """{(row[field] for field in `by`): {metric: [value per run]}} over the quality rows of several result files."""
    groups = {}
    for run in runs:
        for row in run.get("rows") or run.get("quality"):
            group = groups.setdefault(tuple(row.get(field) for field in by), {m: [] for m in metrics})
            for metric in metrics:
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


def table(groups, by=BY, metrics=METRICS):
    """The pooled groups as a markdown table: the `by` fields, the number of runs, then a `cell` per metric."""
    label = lambda v: "" if v is None else f"{v:g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join([*by, "runs", *metrics]) + " |", "|" + "---|" * (len(by) + len(metrics) + 1)]
    for key, values in groups.items():
        runs = max(len(v) for v in values.values())
        lines.append("| " + " | ".join([*map(label, key), str(runs), *(cell(values[m]) for m in metrics)]) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="JSON files written by gan_quality.py, vae_quality.py or "
                        "training_budget.py")
    parser.add_argument("--by", help=f"the row fields that name a group (default {','.join(BY)}, minutes optional)")
    parser.add_argument("--metrics", default=",".join(METRICS), help="the row fields pooled (default %(default)s)")
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    by, metrics = args.by.split(",") if args.by else BY, args.metrics.split(",")
    runs = [load_result(path, ("command",), "pass the JSON files of gan_quality.py, vae_quality.py or "
                        "training_budget.py") for path in args.results]
    if args.by:  # a misspelt field would pool every row into one group
        fields = {field for run in runs for row in run.get("rows") or run.get("quality") for field in row}
        unknown = [field for field in by if field not in fields]
        if unknown:
            raise AugmentError(f"--by {','.join(unknown)}: no row of these files has that field; they have "
                               f"{', '.join(sorted(fields))}")
    text = table(pooled(runs, by, metrics), by, metrics) + "\n"
    if args.out:
        files.write_text(args.out, text)
    print(text, end="")


if __name__ == "__main__":
    cli.run(main)
