"""The side effects of a training run, as Keras callbacks: a stop on NaN, per-epoch sample grids (PNG and
TensorBoard), the checkpoint `--resume` continues from and a stop when the time budget is spent."""

import os
import time

import keras
import numpy as np
import tensorflow as tf

from augment_tf import files, images, runs


def _finite(logs):
    return all(np.isfinite(float(v)) for v in (logs or {}).values())


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and remembers where, so the run can say so."""

    def __init__(self):
        super().__init__()
        self.diverged_at = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.diverged_at is None and not _finite(logs):
            self.diverged_at = f"epoch {self.epoch + 1}, step {batch + 1} ({logs})"
            self.model.stop_training = True


class SampleGrid(keras.callbacks.Callback):
    """Writes samples/epoch_NNN.png (fixed latent vectors; one row per class) and logs it to TensorBoard.

    Given `real` (uint8 images, labels) and a model that can `reconstruct`, also writes
    samples/recon_epoch_NNN.png: the real images above their reconstructions.
    """

    def __init__(self, run_dir, seed, columns=10, real=None):
        super().__init__()
        self.run_dir, self.seed, self.columns, self.real = run_dir, seed, columns, real
        self.writer = tf.summary.create_file_writer(os.path.join(run_dir, "logs", "samples"))

    def on_epoch_end(self, epoch, logs=None):
        if not _finite(logs):
            return
        self._write("samples", f"epoch_{epoch + 1:03d}.png", sample_grid(self.model, self.seed, self.columns), epoch)
        if self.real is not None and hasattr(self.model, "reconstruct"):
            grid = reconstruction_grid(self.model, *self.real)
            self._write("reconstructions", f"recon_epoch_{epoch + 1:03d}.png", grid, epoch)
        self.writer.flush()

    def _write(self, tag, name, grid, epoch):
        files.write_png(os.path.join(self.run_dir, "samples", name), grid)
        with self.writer.as_default():
            tf.summary.image(tag, grid[None], step=epoch + 1)


def sample_grid(model, seed, columns=10):
    """uint8 grid from fixed latent vectors: rows are classes for a conditional model (same noise down a column)."""
    rng = np.random.default_rng(seed)
    if model.num_classes:
        rows, labels = model.num_classes, np.repeat(np.arange(model.num_classes), columns)
        z = np.tile(rng.standard_normal((columns, model.latent_dim)), (rows, 1))
    else:
        rows, labels = columns, None
        z = rng.standard_normal((rows * columns, model.latent_dim))
    z = z.astype("float32")
    return images.grid(images.from_model_range(model.generate(z, labels), model.value_range), rows)


def reconstruction_grid(model, x, y=None):
    """uint8 grid: real uint8 images in the top row, the model's reconstructions of them below."""
    labels = y if model.num_classes else None
    reconstructed = model.reconstruct(images.to_model_range(x, model.value_range), labels)
    return images.grid(np.concatenate([x, images.from_model_range(reconstructed, model.value_range)]), rows=2)


class Checkpoint(keras.callbacks.Callback):
    """Saves the full model (optimizer state included) after each finite epoch, then records the epoch and the
    seconds trained, over all sessions (`seconds`: those of the sessions before this one)."""

    def __init__(self, run_dir, seconds=0.0):
        super().__init__()
        self.run_dir, self.seconds = run_dir, seconds

    def on_train_begin(self, logs=None):
        self.started = time.monotonic() - self.seconds

    def on_epoch_end(self, epoch, logs=None):
        if not _finite(logs):
            return
        files.save_model(self.model, runs.path(self.run_dir, runs.CHECKPOINT))
        seconds = round(time.monotonic() - self.started, 1)
        files.write_json(runs.path(self.run_dir, runs.STATE), {"epoch": epoch + 1, "seconds": seconds})


class TimeBudget(keras.callbacks.Callback):
    """Stops training at the end of the last epoch that fits in `minutes` (the next one, as long as the last, would
    not); `seconds`: those spent in earlier sessions of the run. Where it stopped is `stopped_at`."""

    def __init__(self, minutes, seconds=0.0):
        super().__init__()
        if not minutes > 0:
            raise ValueError(f"a time budget must be more than 0 minutes, got {minutes}")
        self.budget, self.seconds, self.stopped_at = minutes * 60.0, seconds, None

    def on_train_begin(self, logs=None):
        self.started = time.monotonic() - self.seconds

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        if now - self.started + (now - self.epoch_started) > self.budget:
            self.model.stop_training, self.stopped_at = True, epoch + 1
