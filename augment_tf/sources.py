"""What a run trains on, behind one interface: images held in memory (`Arrays`) or streamed from a sharded folder
(`Shards`). Both give the size, shape and class counts without a scan, and a batch stream whose every epoch's order
is a pure function of (seed, epoch), so that a resumed run reads what it would have read.

`open_source` picks: a shard folder whose images fit in IN_MEMORY_BYTES loads into memory, as any other local data
(faster, and today's order); a larger one streams, with memory independent of its size. `source_chunks` reads
any source, a TensorFlow Datasets name too, as chunks (what `augment-tf shard` writes).
"""

import contextlib
import math
import os
from pathlib import Path

import numpy as np

from augment_tf import data, shard_format
from augment_tf.errors import DataError

IN_MEMORY_BYTES = 2 * 2**30  # larger shard folders stream: 2 GB of uint8 images (2.7 million of 28x28)
STREAM_CHOICES = ("auto", "on", "off")


class Arrays:
    """uint8 images (N, H, W, C) and int64 labels (N,) in memory; `name` says where they came from in errors."""

    streamed = False

    def __init__(self, x, y, name):
        self.x, self.y, self.name = x, y, name
        self.images, self.image_shape = len(x), tuple(x.shape[1:])
        labeled = y[y != data.UNLABELED]
        self.class_counts = np.bincount(labeled) if labeled.size else np.zeros(0, np.int64)
        self.unlabeled = len(y) - labeled.size

    def batches_per_pass(self, batch_size, workers=1):
        """Whole batches of one pass over the images (every worker reads all of them: tf.distribute splits)."""
        return max(1, self.images // batch_size)

    def dataset(self, batch_size, *, seed, value_range, start=0, worker=(0, 1), shuffle_buffer=None):
        """Endless batches in the seeded order of `data.make_dataset`, the first `start` batches skipped."""
        del worker, shuffle_buffer  # the whole set is shuffled at once, and tf.distribute shards it
        return data.make_dataset(self.x, self.y, batch_size, seed=seed, repeat=True, value_range=value_range
                                 ).skip(start)

    def chunks(self, size=shard_format.CHUNK):
        """(x, y) chunks in stored order."""
        return ((self.x[i:i + size], self.y[i:i + size]) for i in range(0, self.images, size))

    def head(self, n):
        return self.x[:n], self.y[:n]


class Shards:
    """A sharded folder (augment_tf.shard_format), read as a stream: its metadata says the size, shape and classes."""

    streamed = True

    def __init__(self, folder, metadata=None, labels=None):
        """`labels` (one per image, in stored order) label the unlabelled records: a run's pseudo-labels."""
        self.folder, self.name, self.labels = os.fspath(folder), os.fspath(folder), labels
        self.metadata = metadata or shard_format.read_metadata(folder)
        self.images, self.image_shape = self.metadata["images"], tuple(self.metadata["image_shape"])
        self.class_counts = np.asarray(self.metadata["class_counts"], np.int64)
        self.unlabeled = self.metadata["unlabeled"]

    def batches_per_pass(self, batch_size, workers=1):
        """Whole batches per pass over a worker's shards, `batch_size` being the global batch: each of `workers`
        reads batch_size / workers images per step from its own shards."""
        return shard_format.batches_per_epoch(self.metadata, batch_size // workers, workers)

    def dataset(self, batch_size, *, seed, value_range, start=0, worker=(0, 1),
                shuffle_buffer=shard_format.SHUFFLE_BUFFER):
        """Endless batches of this worker's shards (`batch_size` of them: a worker's share of the global batch);
        the first `start` batches skipped by starting at their pass, reading at most one pass to skip the rest."""
        per_pass = shard_format.batches_per_epoch(self.metadata, batch_size, worker[1])
        return shard_format.shard_dataset(self.folder, batch_size, seed=seed, epoch=start // per_pass, worker=worker,
                                    shuffle_buffer=shuffle_buffer, value_range=value_range, labels=self.labels
                                    ).skip(start % per_pass)

    def chunks(self, size=shard_format.CHUNK):
        return shard_format.read_chunks(self.folder, size, self.labels)

    def reads(self, worker):
        """One line: the shards worker (index, count) reads."""
        mine = shard_format.worker_shards(self.metadata, worker)
        numbers = ", ".join(str(int(s["file"][6:-9])) for s in mine)
        return (f"worker {worker[0]} of {worker[1]} reads shards {numbers} ({len(mine)} of "
                f"{len(self.metadata['shards'])}; {sum(s['records'] for s in mine):,} images)")

    def head(self, n):
        return next(iter(self.chunks(n)))


def open_source(dataset="mnist", split="train", data_dir=None, stream="auto"):
    """(source, a line saying whether it streams) of `data_dir` (else $AUGMENT_TF_DATA_DIR, else TFDS `dataset`).

    `stream` "on" streams a shard folder, "off" loads it into memory, "auto" streams it when its images pass
    IN_MEMORY_BYTES. Other sources load into memory (`data.load_arrays`), and their line is None: no choice was made."""
    data_dir = data_dir or os.environ.get(data.DATA_DIR_ENV) or None
    folder, metadata = _sharded(dataset, split, data_dir, stream)
    if folder:
        size = metadata["images"] * math.prod(metadata["image_shape"])
        if stream == "on" or (stream == "auto" and size > IN_MEMORY_BYTES):
            why = "" if stream == "on" else f", more than the {_gb(IN_MEMORY_BYTES)} read into memory"
            return Shards(folder, metadata), f"streaming {folder}: {metadata['images']:,} images ({_gb(size)}{why})"
        x, y = data.load_arrays(dataset, split, data_dir)
        return Arrays(x, y, folder), f"reading {folder} into memory: {len(x):,} images ({_gb(size)})"
    x, y = data.load_arrays(dataset, split, data_dir)
    return Arrays(x, y, data_dir or f"TensorFlow Datasets {dataset!r}"), None


def check_source(dataset="mnist", split="train", data_dir=None, stream="auto"):
    """The DataError `open_source` would raise for local data that is missing or not what `stream` reads, found
    without reading the images (a command checks its paths before TensorFlow starts)."""
    data_dir = data_dir or os.environ.get(data.DATA_DIR_ENV) or None
    folder, _ = _sharded(dataset, split, data_dir, stream)
    if data_dir and not folder:
        data.check_data_dir(data_dir, split)


def _sharded(dataset, split, data_dir, stream):
    """(folder, metadata) of the sharded folder holding `split` at `data_dir` (DIR/split, or DIR serving every
    split), else (None, None); `stream` "on" needs one."""
    if stream not in STREAM_CHOICES:
        raise ValueError(f"stream must be one of {STREAM_CHOICES}, got {stream!r}")
    folder = data_dir and shard_format.split_folder(data_dir, split)
    if folder:
        return folder, shard_format.read_metadata(folder)
    if stream == "on":
        given = data_dir or dataset
        raise DataError(f"{given}: --stream on reads a sharded folder; write one with python -m augment_tf.shard "
                        f"{given} --out DIR and pass --data-dir DIR")
    return None, None


def _gb(size):
    return f"{size / 2**30:.1f} GB" if size >= 2**30 else f"{size / 2**20:.0f} MB"


def source_chunks(src, split="train", chunk_size=shard_format.CHUNK):
    """(number of images or None, iterable of (x uint8, y int64) chunks) of SRC: a sharded folder, local files
    (`data.load_arrays`) or, when no such path exists, a TensorFlow Datasets name."""
    path = Path(src).expanduser()
    if shard_format.is_sharded(path):
        return shard_format.read_metadata(path)["images"], shard_format.read_chunks(path, chunk_size)
    if path.exists() or path.suffix == ".npz" or "/" in src:
        x, y = data.load_arrays(split=split, data_dir=str(path))
        return len(x), ((x[i:i + chunk_size], y[i:i + chunk_size]) for i in range(0, len(x), chunk_size))
    return _tfds_chunks(src, split, chunk_size)


def _tfds_chunks(name, split, chunk_size):
    """(number of images or None, chunks) of a prepared TensorFlow Datasets split, read in batches, never whole."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name)
        prepared = builder.is_prepared()
    except tfds.core.DatasetNotFoundError:
        raise DataError(f"{name}: no such file or folder, nor a TensorFlow Datasets name") from None
    if not prepared:
        raise DataError(f"TensorFlow Datasets {name!r} is not downloaded to {builder.data_dir}: prepare it once "
                        f"online (tfds build {name}) or pass a local folder")
    try:
        batches = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False).batch(chunk_size)
    except (KeyError, ValueError) as e:
        raise DataError(f"TensorFlow Datasets {name!r}: cannot read split {split!r} as (image, label) ({e})") from None
    total = None  # for the progress bar only: unknown where the split's info is
    with contextlib.suppress(KeyError, ValueError):
        total = builder.info.splits[split].num_examples

    def chunks():
        try:
            yield from tfds.as_numpy(batches)
        except tf.errors.OpError as e:
            first_line = (e.message.splitlines() or [""])[0]
            raise DataError(f"TensorFlow Datasets {name!r}: reading split {split!r} failed ({first_line})") from None

    return total, chunks()
