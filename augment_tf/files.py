"""Atomic output: every file is written to a temporary sibling, then renamed into place."""

import contextlib
import json
import os
import tempfile

import numpy as np


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path next to `path`; renames it onto `path` only if the block succeeds."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    # Keep the extension: some writers (np.savez, keras .keras, matplotlib) choose the format by it.
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}", dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_npz(path, **arrays):
    """Writes a compressed `.npz` atomically."""
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)


def write_json(path, obj):
    """Writes pretty JSON atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")


def write_png(path, image):
    """Writes a uint8 image (H, W) or (H, W, C) as PNG atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    with atomic_path(path) as tmp:
        plt.imsave(tmp, image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255, format="png")


def save_model(model, path):
    """Saves a Keras model to a `.keras` file atomically."""
    with atomic_path(path) as tmp:
        model.save(tmp)
