"""Pieces the quality benchmarks share: wall-clock snapshots during `fit`, scoring, markdown tables."""

import json
import os
import time

import keras
import numpy as np

from augment_tf import data, evaluate, files

QUALITY_COLUMNS = ["model", "minutes", "steps", "images_per_s", "fid", "precision", "recall", "label_fidelity", "cas"]


class WallClockSnapshots(keras.callbacks.Callback):
    """Copies `get_weights()` of a network (default: the trained model) at training wall-clock marks (minutes);
    stops training after the last. Time spent copying is not counted."""

    def __init__(self, network, marks_minutes, batch_size=None):
        super().__init__()
        self.network, self.marks, self.batch_size = network, sorted(marks_minutes), batch_size
        self.snapshots, self.paused, self.steps = [], 0.0, 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        elapsed = time.perf_counter() - self.start - self.paused
        if len(self.snapshots) < len(self.marks) and elapsed >= 60 * self.marks[len(self.snapshots)]:
            begin = time.perf_counter()
            snap = {"minutes": self.marks[len(self.snapshots)], "steps": self.steps, "seconds": elapsed}
            if self.batch_size:
                snap["images_per_s"] = self.steps * self.batch_size / elapsed
            snap["weights"] = (self.network or self.model).get_weights()
            self.snapshots.append(snap)
            self.paused += time.perf_counter() - begin
            if len(self.snapshots) == len(self.marks):
                self.model.stop_training = True


def score(x, y, data_dir, n, cas):
    """augment_tf.evaluate's metrics for uint8 samples, on up to `n` of them."""
    return evaluate.evaluate_samples(x, y, data_dir=data_dir, cas=cas, max_samples=n)


VALIDATION_SIZE = 10_000  # training images held out to choose on; the reference classifier never trains on them


def split_dirs(data_dir, split, work_dir, seed=0):
    """(train_dir, score_dir, held_out): where to train generators and where to score them for `split`.

    The training split's VALIDATION_SIZE images drawn with `seed` are held out. 'validation' (choices are made
    here): generators train on the rest and are scored against the held-out images, the test split unread;
    `held_out` is None. 'test' (the final choice, scored once): generators train on the whole training split and
    are scored against the test split; `held_out` (x, y) are real digits the reference classifier never saw (in
    both splits it trains on the rest only): the floor, scored like samples.
    """
    x, y = data.load_arrays("mnist", "train", data_dir)
    order = np.random.default_rng(seed).permutation(len(x))
    held, rest = order[:VALIDATION_SIZE], np.sort(order[VALIDATION_SIZE:])
    score_dir = os.path.join(work_dir, split)
    os.makedirs(score_dir, exist_ok=True)
    files.write_npz(os.path.join(score_dir, "train.npz"), x=x[rest], y=y[rest])
    if split == "validation":
        files.write_npz(os.path.join(score_dir, "test.npz"), x=x[held], y=y[held])
        return score_dir, score_dir, None
    x_test, y_test = data.load_arrays("mnist", "test", data_dir)
    files.write_npz(os.path.join(score_dir, "test.npz"), x=x_test, y=y_test)
    return data_dir, score_dir, (x[held], y[held])


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
