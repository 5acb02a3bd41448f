"""Safe output: every file is written to a temporary sibling, then renamed into place; `claim` keeps a second
command from writing to the same output at once."""

import contextlib
import fcntl
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


@contextlib.contextmanager
def claim(path):
    """Holds an exclusive lock on `path` (a file or folder output, existing or not) for the block's life, so that a
    second command given the same output refuses at once instead of writing beside the first.

    The lock is `flock` on a sibling `.NAME.lock` file: the kernel drops it when its process dies, so a lock file
    left by a killed command never blocks the next one."""
    lock_path = _lock_path(path)
    check_not_under_a_file(path)
    created = _missing_folders(os.path.dirname(lock_path))
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AugmentError(f"{path} is in use by another command (process {holder}): wait for it to end, "
                               "or choose another --out") from None
        # The holder before us may have removed the file after we opened it: lock the file at the path, not a ghost.
        if os.path.exists(lock_path) and os.stat(lock_path).st_ino == os.fstat(fd).st_ino:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.remove(lock_path)  # while still locked: a waiter that opened it sees the inode change and retries
        os.close(fd)
        for folder in created:  # the folders made for the lock only, if the command left them empty
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def check_not_under_a_file(path, choose="another path"):
    """An AugmentError unless `path` could be written: the nearest of its folders that exists is a folder, not a file
    in the way of one."""
    nearest = _nearest_existing(path)
    if not os.path.isdir(nearest):
        raise AugmentError(f"{nearest} is a file, so {path} cannot be written under it: choose {choose}")


def check_space(path, needed, what):
    """An AugmentError before any work when `needed` bytes (an output's size, known from its counts) cannot fit on
    the disk that would hold `path`."""
    free = shutil.disk_usage(_nearest_existing(path)).free
    if needed > free:
        raise AugmentError(f"{path}: {what} take {_size(needed)} and the disk there has {_size(free)} free: ask for "
                           "fewer, or choose a folder on a larger disk")


def _size(n):
    for power, unit in ((4, "TB"), (3, "GB"), (2, "MB")):
        if n >= 1024**power:
            return f"{n / 1024**power:.1f} {unit}"
    return f"{n} bytes"


def _nearest_existing(path):
    """The folder `path` would be written in, or its nearest ancestor that exists."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return folder


def _missing_folders(folder):
    """`folder` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while folder and not os.path.isdir(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


def _lock_path(path):
    """`.NAME.lock` beside the output `path` (NAME its last part, a folder's too)."""
    path = os.path.abspath(os.fspath(path))
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.lock")


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
