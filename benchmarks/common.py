"""Pieces the quality benchmarks share: wall-clock snapshots during `fit`, scoring, markdown tables."""

import json
import time

import keras
import numpy as np

from augment_tf import data, evaluate

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


def real_row(data_dir, n):
    """The floor: `n` random real training images scored like samples."""
    x_real, y_real = data.load_arrays("mnist", "train", data_dir)
    pick = np.random.default_rng(0).permutation(len(x_real))[:n]
    row = {"model": "real MNIST train images", **score(x_real[pick], y_real[pick], data_dir, n, True)}
    print(json.dumps(row), flush=True)
    return row


def markdown(rows, columns=QUALITY_COLUMNS):
    """A markdown table of `rows` (dicts) in `columns`; floats with 3 decimals, missing values blank."""
    fmt = lambda v: "" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
