"""Image datasets from local IDX/.npz files or TFDS: uint8 arrays (`load_arrays`), pipelines (`load_dataset`)."""

import contextlib
import functools
import gzip
import os
import socket
import threading
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path

import numpy as np

from augment_tf import shard_format
from augment_tf.arrays import UNLABELED, check_arrays, check_images  # noqa: F401  (data.UNLABELED, data.check_*)
from augment_tf.errors import DataError
from augment_tf.files import atomic_path

DATA_DIR_ENV = "AUGMENT_TF_DATA_DIR"

# split -> (images, labels): the original MNIST file names, each also accepted with `.gz`.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_DATA_HINT = (f"pass local files with --data-dir DIR or {DATA_DIR_ENV}=DIR "
              "(a folder of the four MNIST IDX files or an .npz with x, y)")


def read_idx(path):
    """Reads a uint8 IDX file, gzip or raw (told by its magic bytes), validating the whole layout."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":  # gzip magic
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupt gzip ({e}); re-download the file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0":
        raise DataError(f"{path}: not an IDX file (bad magic {raw[:4].hex() or 'empty'})")
    if raw[2] != 0x08:
        raise DataError(f"{path}: unsupported IDX data type 0x{raw[2]:02x}; only unsigned byte (0x08) is")
    ndim, header = raw[3], 4 + 4 * raw[3]
    if not 1 <= ndim <= 4:
        raise DataError(f"{path}: unsupported IDX dimension count {ndim}; expected 1 to 4")
    if len(raw) < header:
        raise DataError(f"{path}: truncated header: expected {ndim} dimension sizes; re-download the file")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    expected, found = int(np.prod(dims, dtype=np.int64)), len(raw) - header
    if found < expected:
        raise DataError(f"{path}: truncated: expected {expected} bytes of data, found {found}; re-download the file")
    if found > expected:
        raise DataError(f"{path}: {found - expected} trailing bytes after the {expected} bytes of data")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims).copy()


def write_idx(path, array):
    """Writes a uint8 array as IDX (gzip when `path` ends in `.gz`) atomically, readable by any MNIST loader."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 4:
        raise DataError(f"{path}: IDX needs a uint8 array of 1 to 4 dimensions, got {array.dtype} {array.shape}")
    payload = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes() + array.tobytes()
    name = os.path.basename(os.fspath(path))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        # gzip header with mtime=0 and the final name: same array, same bytes. Level 6 (zlib's default): on MNIST
        # as small as 9 and ~15x faster.
        with gzip.GzipFile(name[:-3], "wb", compresslevel=6, fileobj=f, mtime=0) if name.endswith(".gz") else f as out:
            out.write(payload)


def load_arrays(dataset="mnist", split="train", data_dir=None):
    """Returns read-only `x` uint8 (N, H, W, C) and `y` int64 (N,), cached per source and split.

    Source: `data_dir`, else `$AUGMENT_TF_DATA_DIR`, else TensorFlow Datasets `dataset` (ignored
    for local data). A folder holds the MNIST IDX pair of `split` (`train`, `test`; raw or .gz)
    or `{split}.npz` or a sharded folder `{split}/` (augment_tf.shard_format); an `.npz` file (arrays `x`, `y`) or a
    sharded folder is the data whatever the split. A label of `UNLABELED` (-1) marks an image without a label.
    """
    data_dir = data_dir or os.environ.get(DATA_DIR_ENV) or None
    if data_dir is None:
        return _load(("tfds", dataset, split))
    files = _local_files(Path(data_dir).expanduser(), split)
    # (mtime, size) in the key: a rewritten file is read again.
    return _load(("local", files, tuple((os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in files)))


def check_data_dir(data_dir, split="train"):
    """The DataError `load_arrays` would raise for a `data_dir` that holds no `split`, found without reading images."""
    _local_files(Path(data_dir).expanduser(), split)


def load_images(path):
    """Unlabelled images: read-only `x` uint8 (N, H, W, C) and `y` all `UNLABELED`, from an .npz with `x` (any
    other array ignored), an MNIST IDX images file (raw or .gz), or a folder holding train-images-idx3-ubyte[.gz]."""
    path = Path(path).expanduser()
    if path.is_dir():
        name = IDX_FILES["train"][0]
        found = _idx_file(path, name)
        if found is None:
            raise DataError(f"{path}: no {name}[.gz] in this folder; pass an .npz with x or an IDX images file")
        path = found
    elif not path.exists():
        raise DataError(f"{path}: no such file or folder")
    stat = os.stat(path)
    return _load(("images", (str(path.resolve()),), ((stat.st_mtime_ns, stat.st_size),)))


def split_labeled(x, y):
    """((labelled images, their labels), unlabelled images): rows whose label is `UNLABELED` go to the second."""
    unlabeled = np.asarray(y) == UNLABELED
    return (x[~unlabeled], y[~unlabeled]), x[unlabeled]


def num_classes(y, source="labels", known=0):
    """Number of classes K of labels 0..K-1 (unlabelled rows aside), each with at least one sample: a class without
    any is corrupt labels (one label 12 among MNIST's 0..9 would make a 13-class model with three classes it never
    saw). Classes below `known` (learned elsewhere: a model to fine-tune) may have none here."""
    labeled = np.asarray(y, np.int64)
    labeled = labeled[labeled != UNLABELED]
    return classes_of(np.bincount(labeled) if labeled.size else [], source, known)


def classes_of(class_counts, source="labels", known=0):
    """`num_classes` from the count of images of each class (a sharded dataset's metadata holds them)."""
    counts = np.asarray(class_counts, np.int64)
    if not counts.sum():
        raise DataError(f"{source}: no labelled images (every label is {UNLABELED}); a class-conditional model needs "
                        "some images of every class labelled")
    counts = np.pad(counts, (0, max(0, known - len(counts))))
    empty = np.flatnonzero(counts[known:] == 0) + known
    if empty.size:
        listed = ", ".join(map(str, empty[:10])) + (", ..." if empty.size > 10 else "")
        raise DataError(f"{source}: no samples of class {listed} (labels run 0..{len(counts) - 1}); a class-conditional "
                        "model needs samples of every class 0..K-1: fix the labels")
    return len(counts)


def make_dataset(x, y, batch_size=128, *, seed=None, shuffle=True, drop_remainder=True, repeat=False,
                 value_range=(-1.0, 1.0)):
    """Batches of (float32 images (B, H, W, C) in `value_range`, int64 labels); a seed fixes every epoch's order.

    Repeated, epoch e's order is a pure function of (seed, e), however often the dataset is iterated: under
    tf.distribute Keras opens one iterator before training, and tf.data's shuffle reshuffles for every iterator."""
    import tensorflow as tf

    x, y = check_arrays(x, y, "make_dataset")
    if batch_size < 1 or (drop_remainder and batch_size > len(x)):
        raise DataError(f"batch size {batch_size} does not fit {len(x)} samples: lower --batch-size")
    low, high = (float(v) for v in value_range)
    to_range = lambda images: tf.cast(images, tf.float32) * ((high - low) / 255.0) + low
    if repeat and shuffle:
        return _epochs_in_seeded_order(x, y, batch_size, seed, drop_remainder, to_range).prefetch(tf.data.AUTOTUNE)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.map(lambda image, label: (to_range(image), label), tf.data.AUTOTUNE).cache()
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return (ds.repeat() if repeat else ds).prefetch(tf.data.AUTOTUNE)


def _epochs_in_seeded_order(x, y, batch_size, seed, drop_remainder, to_range):
    """Endless batches of (`to_range` of `x`, `y`): epoch e in the order of a permutation drawn from (seed, e)."""
    import tensorflow as tf

    seed = np.random.SeedSequence().entropy % 2**31 if seed is None else seed
    images, labels = tf.constant(x), tf.constant(y)

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(len(x), dtype=tf.int64),
                                                         seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=drop_remainder)

    batches = tf.data.Dataset.counter().flat_map(epoch_batches)
    return batches.map(lambda rows: (to_range(tf.gather(images, rows)), tf.gather(labels, rows)), tf.data.AUTOTUNE)


def load_dataset(dataset="mnist", split="train", data_dir=None, batch_size=128, **pipeline_kwargs):
    """`load_arrays` then `make_dataset`: the one call training and evaluation need."""
    x, y = load_arrays(dataset, split, data_dir)
    return make_dataset(x, y, batch_size, **pipeline_kwargs)


def _idx_file(folder, name):
    """`folder/name.gz` or `folder/name`, whichever is a file (the gzip one first), else None."""
    return next((folder / n for n in (f"{name}.gz", name) if (folder / n).is_file()), None)


def _local_files(path, split):
    """The resolved files holding `split` at `path`: an (images, labels) IDX pair, one .npz or a sharded folder's
    metadata.json."""
    if path.is_file() and path.suffix == ".npz":
        return (str(path.resolve()),)
    if not path.is_dir():
        raise DataError(f"{path}: " + ("not a folder or an .npz file" if path.exists() else "no such file or folder"))
    folder = shard_format.split_folder(path, split)
    if folder:
        shard_format.read_metadata(folder)  # a finished, consistent write
        return (str((Path(folder) / shard_format.METADATA).resolve()),)
    names = IDX_FILES.get(split, ())
    found = [_idx_file(path, name) for name in names]
    if names and all(found):
        return tuple(str(p.resolve()) for p in found)
    if (path / f"{split}.npz").is_file():
        return (str((path / f"{split}.npz").resolve()),)
    expected = " and ".join(f"{n}[.gz]" for n in names) + (", or " if names else "")
    raise DataError(f"{path}: no data for split {split!r}: expected {expected}{split}.npz")


@functools.lru_cache(maxsize=8)
def _load(key):
    """Reads and validates the arrays of a `load_arrays` key; cached, hence returned read-only."""
    kind, *args = key
    if kind == "images":
        path = args[0][0]
        if path.endswith(".npz"):
            x = read_npz(path, ("x",), hint="save with np.savez(path, x=images)")["x"]
        else:
            x = read_idx(path)
            if x.ndim != 3:
                raise DataError(f"{path}: expected images (N, H, W), got shape {x.shape}")
        (x, y), source = (x, np.full(len(x), UNLABELED)), path
    elif kind == "tfds":
        (x, y), source = _read_tfds(*args), f"TensorFlow Datasets {args[0]!r}"
    elif len(args[0]) == 2:
        (x, y), source = [read_idx(p) for p in args[0]], f"{args[0][0]} + {os.path.basename(args[0][1])}"
        if x.ndim != 3 or y.ndim != 1:
            raise DataError(f"{source}: expected images (N, H, W) and labels (N,), got {x.shape} and {y.shape}")
    elif args[0][0].endswith(".npz"):
        arrays = read_npz(args[0][0], ("x", "y"))
        (x, y), source = (arrays["x"], arrays["y"]), args[0][0]
    else:  # a sharded folder's metadata.json
        source = os.path.dirname(args[0][0])
        x, y = (np.concatenate(arrays) for arrays in zip(*shard_format.read_chunks(source)))
    x, y = check_arrays(x, y, source)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def read_npz(path, required, optional=(), hint="save with np.savez(path, x=images, y=labels)"):
    """{name: array} of an .npz archive: every `required` array and those `optional` ones it holds.

    Never unpickles: a file that is not a zip archive, or an array of Python objects, is a DataError."""
    if os.path.isdir(path):
        raise DataError(f"{path} is a folder; pass an .npz file ({hint})")
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):  # np.load would try to unpickle it
        raise DataError(f"{path}: not an .npz archive (no zip structure); {hint}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = npz.files
            arrays = {k: npz[k] for k in (*required, *optional) if k in names}
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DataError(f"{path}: holds arrays of Python objects, which are never unpickled; {hint}") from None
        raise DataError(f"{path}: damaged .npz archive ({_short(e)}); {hint}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}: damaged .npz archive ({_short(e)}); {hint}") from None
    for k in required:
        if k not in arrays:
            raise DataError(f"{path}: missing array {k!r} (has {names}); {hint}")
    return arrays


def _read_tfds(dataset, split):
    """Full split of a TFDS image classification set as numpy; downloads only when online."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(dataset)
    except tfds.core.DatasetNotFoundError:
        raise DataError(f"unknown dataset {dataset!r} in TensorFlow Datasets; {_DATA_HINT}") from None
    except Exception as e:
        raise DataError(f"could not load {dataset!r} from TensorFlow Datasets ({_short(e)}); {_DATA_HINT}") from e
    if not builder.is_prepared():
        # Offline, tfds retries every URL for minutes (3.4 min for mnist here): probe the host first.
        offline = f"could not load {dataset!r} from TensorFlow Datasets (no network?): {_DATA_HINT}"
        if not _online(builder):
            raise DataError(offline)
        try:
            builder.download_and_prepare()
        except Exception as e:
            raise DataError(f"{offline} ({_short(e)})") from e
    try:
        # Chunks, not batch_size=-1, which pads to sys.maxsize when split sizes are unknown.
        batches = list(tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True).batch(8192)))
    except Exception as e:
        raise DataError(f"could not read split {split!r} of {dataset!r} from TensorFlow Datasets: {_short(e)}") from e
    if not batches:
        raise DataError(f"TensorFlow Datasets {dataset!r}: split {split!r} is empty")
    return tuple(np.concatenate(arrays) for arrays in zip(*batches))


def _online(builder, timeout=3.0):
    """Whether the dataset's download host accepts a connection within `timeout` seconds."""
    if urllib.request.getproxies():
        return True  # cannot probe through a proxy: let tfds try.
    try:
        urls = sorted(builder.url_infos or ())
    except Exception:  # url_infos reads package files, which may be missing
        urls = []
    url = urllib.parse.urlsplit((urls or ["https://storage.googleapis.com"])[0])
    address, connected = (url.hostname, url.port or (80 if url.scheme == "http" else 443)), []

    def connect():
        with contextlib.suppress(OSError):
            socket.create_connection(address, timeout).close()
            connected.append(True)

    thread = threading.Thread(target=connect, daemon=True)  # a thread also bounds a slow DNS lookup
    thread.start()
    thread.join(timeout)
    return bool(connected)


def _short(error):
    """Type and first line of an exception, for one-line messages."""
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
