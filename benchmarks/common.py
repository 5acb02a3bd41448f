"""Pieces the quality benchmarks share: wall-clock snapshots during `fit`, scoring, markdown tables."""

import json
import os
import sys
import time

import keras
import numpy as np

from augment_tf import data, files, metrics
from augment_tf.errors import AugmentError

QUALITY_COLUMNS = ["model", "minutes", "steps", "images_per_s", "fid", "precision", "recall", "label_fidelity", "cas"]


class WallClockSnapshots(keras.callbacks.Callback):
    """Copies `get_weights()` of a network (default: the trained model) at training wall-clock marks (minutes), or
    at step counts (`unit="steps"`: to re-make a recorded snapshot exactly); stops training after the last. Time
    spent copying is not counted."""

    def __init__(self, network, marks, batch_size=None, unit="minutes"):
        super().__init__()
        self.network, self.marks, self.batch_size, self.unit = network, sorted(marks), batch_size, unit
        self.snapshots, self.paused, self.steps = [], 0.0, 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        elapsed = time.perf_counter() - self.start - self.paused
        if len(self.snapshots) == len(self.marks):
            return
        mark = self.marks[len(self.snapshots)]
        if (self.steps >= mark) if self.unit == "steps" else (elapsed >= 60 * mark):
            begin = time.perf_counter()
            minutes = mark if self.unit == "minutes" else round(elapsed / 60, 2)
            snap = {"minutes": minutes, "steps": self.steps, "seconds": elapsed}
            if self.batch_size:
                snap["images_per_s"] = self.steps * self.batch_size / elapsed
            snap["weights"] = (self.network or self.model).get_weights()
            self.snapshots.append(snap)
            self.paused += time.perf_counter() - begin
            if len(self.snapshots) == len(self.marks):
                self.model.stop_training = True


def score(x, y, data_dir, n, cas, classifier_steps=None):
    """augment_tf.metrics' scores (as the evaluate command prints them) for uint8 samples, on up to `n` of them
    (`classifier_steps`: fewer for smoke runs only)."""
    return metrics.evaluate_samples(x, y, data_dir=data_dir, cas=cas, max_samples=n, classifier_steps=classifier_steps)


VALIDATION_SIZE = 10_000  # training images held out to choose on; the reference classifier never trains on them


def split_arrays(data_dir, split, seed=0):
    """(train, score, rest, held), each (x, y): what to train on and score against for `split`, and the two parts
    of the training split: `held`, its VALIDATION_SIZE images drawn with `seed`, and `rest`, the other 50k.

    'validation' (choices are made here): train on `rest`, score against `held`; the test split is not read.
    'test' (the final choice, scored once): train on the whole training split, score against the test split.
    """
    x, y = data.load_arrays("mnist", "train", data_dir)
    order = np.random.default_rng(seed).permutation(len(x))
    held, rest = np.sort(order[:VALIDATION_SIZE]), np.sort(order[VALIDATION_SIZE:])
    held, rest = (x[held], y[held]), (x[rest], y[rest])
    if split == "validation":
        return rest, held, rest, held
    return (x, y), data.load_arrays("mnist", "test", data_dir), rest, held


def split_dirs(data_dir, split, work_dir, seed=0):
    """(train_dir, score_dir, held_out): data folders for `split_arrays`, for the training scripts and evaluate.

    score_dir's train split is `rest` in both cases, so the reference classifier never trains on the held-out
    images. With 'test', `held_out` (x, y) are those images, real digits the reference never saw: the floor,
    scored like samples; with 'validation' they are what is scored against, and `held_out` is None.
    """
    _, score_split, rest, held = split_arrays(data_dir, split, seed)
    score_dir = os.path.join(work_dir, split)
    os.makedirs(score_dir, exist_ok=True)
    files.write_npz(os.path.join(score_dir, "train.npz"), x=rest[0], y=rest[1])
    files.write_npz(os.path.join(score_dir, "test.npz"), x=score_split[0], y=score_split[1])
    return (score_dir, score_dir, None) if split == "validation" else (data_dir, score_dir, held)


def real_row(held_out, score_dir, n):
    """The floor: `n` real images the reference classifier never trained on, scored like samples."""
    x_real, y_real = held_out
    row = {"model": "real MNIST images, held out from the reference", **score(x_real[:n], y_real[:n], score_dir, n, True)}
    print(json.dumps(row), flush=True)
    return row


def markdown(rows, columns=QUALITY_COLUMNS):
    """A markdown table of `rows` (dicts) in `columns`; floats with 3 decimals, missing values blank."""
    fmt = lambda v: "" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def load_result(path, fields, hint):
    """The JSON object a benchmark wrote to `path`, checked to have `fields`; else one AugmentError line ending in
    `hint` (what to pass instead)."""
    if not os.path.isfile(path):
        raise AugmentError(f"{path}: no such result file; {hint}")
    try:
        with open(path) as f:
            run = json.load(f)
    except ValueError:
        run = None
    if not isinstance(run, dict) or not set(fields) <= run.keys():
        raise AugmentError(f"{path}: not a result file of this benchmark (no JSON with {', '.join(fields)}); {hint}")
    return run


def pool_files(paths, key, same=()):
    """(pooled, runs): several result files of one benchmark (e.g. seeds run in separate sessions) as the body of one
    OUT.json, {"rows", "split", "settings" (the first file's), "pooled" (each file and its command), "command"},
    and the loaded files. Refuses files of different splits or `same` settings (the recipe), and any row whose `key`
    fields (e.g. arm, seed) an earlier file has: a seed pools once."""
    rows, runs, seen, agreed = [], [], {}, None
    for path in paths:
        run = load_result(path, ("rows", "settings", "command"), "pool the OUT.json files of earlier runs")
        settings = {"split": run.get("split") or run["settings"].get("split"),
                    **{name: run["settings"].get(name) for name in same}}
        if agreed is not None and settings != agreed:
            raise AugmentError(f"{path}: settings {settings} differ from {paths[0]}'s {agreed}; pool like with like")
        agreed = settings
        runs.append(run)
        for row in run["rows"]:
            fields = tuple(row.get(name) for name in key)
            if fields in seen:
                raise AugmentError(f"{path}: {dict(zip(key, fields))} is in {seen[fields]} already; pool each seed once")
            seen[fields] = path
            rows.append(row)
    pooled = {"rows": rows, "split": agreed["split"], "settings": runs[0]["settings"],
              "pooled": [{"file": path, "command": run["command"]} for path, run in zip(paths, runs)],
              "command": " ".join(sys.argv)}
    return pooled, runs
