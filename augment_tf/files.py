"""Atomic output: every file is written to a temporary sibling, then renamed into place."""

import contextlib
import json
import os
import shutil
import tempfile
import uuid
import zipfile

import numpy as np

from augment_tf.errors import AugmentError


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
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_dir(path):
    """Yields a temporary sibling folder; renames it onto `path` (absent or empty) only if the block succeeds."""
    path = os.path.normpath(path)
    check_replaceable_dir(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    os.mkdir(tmp)  # not mkdtemp: the folder gets the usual permissions (umask), not 0o700
    try:
        yield tmp
        if os.path.isdir(path):
            os.rmdir(path)  # empty (checked above): replaced by the new folder
        os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_replaceable_dir(path):
    """A folder output may replace only an absent or empty folder: never a user's files."""
    if os.path.isfile(path) or (os.path.isdir(path) and os.listdir(path)):
        raise AugmentError(f"{path} already exists: remove it or choose another --out")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_npz(path, **arrays):
    """Writes a compressed `.npz` atomically, like `np.savez_compressed` but with fixed entry timestamps:
    same arrays, same bytes."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as npz:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            with npz.open(entry, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)


def write_json(path, obj):
    """Writes pretty JSON atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")


def write_text(path, text):
    """Writes a text file (a report, a table) atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)


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
