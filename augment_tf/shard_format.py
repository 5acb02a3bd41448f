"""Sharded datasets, for more images than memory holds: a folder of TFRecord files and a `metadata.json`.

Format (version 1). Files `shard-00000.tfrecord`, `shard-00001.tfrecord`, ... each a TFRecord file of
`tf.train.Example` with features `image` (bytes: the raw uint8 pixels, H*W*C of them, row-major), `label` (int64;
-1 for an unlabelled image) and `shape` (int64 list [H, W, C]); then `metadata.json`, written last: format, version,
image_shape, dtype, num_classes (labels 0..K-1; null without labels), class_counts, unlabeled, images, and each
shard's file, records and bytes. Plain TFRecord and JSON, so that any TensorFlow user reads it with
`tf.data.TFRecordDataset` and the parse spec of docs/data.md, without augment_tf; TFDS's own layout would need its
builder's internals to write. Names carry no "-of-N": a streaming writer learns the total only at the end, and
renaming every shard then would leave mixed names after a kill; metadata.json lists the shards and marks a
finished write.

Reading (`shard_dataset`) streams: memory is the shuffle block and a few batches, whatever the number of images.
"""

import contextlib
import functools
import itertools
import json
import math
import os
import re
import struct

import numpy as np

from augment_tf import arrays, files
from augment_tf.errors import DataError

FORMAT, VERSION, METADATA = "augment_tf.shards", 1, "metadata.json"  # the format's name, as version 1 wrote it
PLAN = ".plan.json"  # a resumable write's settings, until its metadata.json is written
SHARD_NAME = "shard-{:05d}.tfrecord"
SHARD_BYTES = 128 * 2**20  # default shard size: ~100+ MB files read at disk speed, yet many per worker on big sets
SHUFFLE_BUFFER = 10_000  # records shuffled together: 8 MB of MNIST, 1.5 GB of 224x224 RGB (lower it there)
CYCLE_LENGTH = 8  # shards read at once, their records interleaved
CHUNK = 4096  # images per chunk when reading in stored order
READ_BATCH = 256  # records a shard's reader hands on at a time
RECORD_OVERHEAD = 256  # bytes a record holds besides its pixels (feature names, label, shape), at most
FRAMING = 16  # TFRecord framing per record: length (8), its CRC (4), the data's CRC (4)
MAX_CLASSES = 2**16  # labels run below it: a stray label of 10**12 must not size the class counts

_SHARD_FILE = re.compile(r"shard-\d{5,}\.tfrecord")
_MARKED = re.compile(r"<shards>(.*?)</shards>")  # a DataError's line carried through a tf.errors exception
_MISSING_LABEL = -2  # what parsing gives a record without a label


def write_shards(batches, folder, images_per_shard=None, on_shard=None, source="input", plan=None):
    """Writes an iterable of (x uint8 (n, H, W[, C]), y int64 (n,)) chunks as a sharded dataset; returns its metadata.

    Streams: one chunk in memory at a time. Each shard is written under a temporary name and renamed when complete,
    and metadata.json comes last, so a killed write leaves whole shards, never a partial file under a final name.
    `folder` must be absent or empty, or hold the complete shards of a killed write of the same `plan` (see
    `resume_from`: `batches` then yields the images after them). `images_per_shard` defaults to SHARD_BYTES of
    images; `on_shard(entry)` is called as each shard is complete; `source` names the input in errors."""
    import tensorflow as tf

    folder = os.fspath(folder)
    if images_per_shard is not None and images_per_shard < 1:
        raise DataError(f"images per shard must be at least 1, got {images_per_shard}")
    seen = {"shape": None, "counts": np.zeros(0, np.int64), "unlabeled": 0}
    shards = _kept_shards(folder, plan, seen) if plan is not None else []
    if plan is None:
        check_new_folder(folder)
    records = _examples(batches, seen, source)
    for first in records:
        per_shard = images_per_shard or default_images_per_shard(seen["shape"])
        path = os.path.join(folder, SHARD_NAME.format(len(shards)))
        written = 0
        with files.atomic_path(path) as tmp, tf.io.TFRecordWriter(tmp) as writer:
            for record in itertools.chain([first], itertools.islice(records, per_shard - 1)):
                writer.write(record)
                written += 1
        entry = {"file": os.path.basename(path), "records": written, "bytes": os.path.getsize(path)}
        shards.append(entry)
        if on_shard:
            on_shard(entry)
    if not shards:
        raise DataError(f"{source}: no images to write")
    counts = seen["counts"]
    metadata = {"format": FORMAT, "version": VERSION, "image_shape": list(seen["shape"]), "dtype": "uint8",
                "num_classes": len(counts) or None, "class_counts": counts.tolist(), "unlabeled": seen["unlabeled"],
                "images": sum(s["records"] for s in shards), "shards": shards}
    files.write_json(os.path.join(folder, METADATA), metadata)
    if plan is not None:
        os.remove(os.path.join(folder, PLAN))
    return metadata


def skipped(chunks, skip):
    """`chunks` ((x, y) pairs, or counts of images not drawn) without their first `skip` images."""
    for item in chunks:
        n = item if isinstance(item, int) else len(item[1])
        if skip >= n:
            skip -= n
            continue
        if isinstance(item, int):
            raise RuntimeError("a chunk that was not drawn is needed")
        yield item[0][skip:], item[1][skip:]
        skip = 0


def default_images_per_shard(image_shape):
    """The default images a shard holds: SHARD_BYTES of them."""
    return max(1, SHARD_BYTES // (math.prod(image_shape) + FRAMING))


def resume_from(folder, plan, images_per_shard):
    """Images a write of `plan` (JSON: every setting that decides the images, `images_per_shard` among them) to
    `folder` may skip: those of the complete shards a killed write of the same plan left; 0 for a new folder, whose
    plan it records. A finished dataset, another plan's shards or a user's files are refused in one line."""
    folder = os.fspath(folder)
    plan_path = os.path.join(folder, PLAN)
    if os.path.isfile(plan_path):
        with open(plan_path) as f:
            if json.load(f) != plan:
                raise DataError(f"{folder} holds an unfinished write of other settings: remove the folder, or rerun "
                                "the command that started it")
        return images_per_shard * sum(bool(_SHARD_FILE.fullmatch(n)) for n in os.listdir(folder))
    check_new_folder(folder)
    os.makedirs(folder, exist_ok=True)
    files.write_json(plan_path, plan)
    return 0


def _examples(batches, seen, source):
    """Each image of `batches` as a serialized tf.train.Example, tallying its shape and labels into `seen`."""
    import tensorflow as tf

    for number, (x, y) in enumerate(batches):
        if len(y) == 0:
            continue
        x, y = arrays.check_arrays(x, y, f"{source}: chunk {number}")
        if seen["shape"] is None:
            seen["shape"] = x.shape[1:]
        if x.shape[1:] != seen["shape"]:
            raise DataError(f"{source}: chunk {number} holds images of shape {x.shape[1:]}, the ones before "
                            f"{seen['shape']}: a dataset's images all have one shape")
        labeled = y[y != arrays.UNLABELED]
        if labeled.size and labeled.max() >= MAX_CLASSES:
            raise DataError(f"{source}: chunk {number} holds label {labeled.max()}; labels run 0..K-1 with K at "
                            f"most {MAX_CLASSES}")
        _tally(seen, y)
        shape = tf.train.Feature(int64_list=tf.train.Int64List(value=x.shape[1:]))
        for image, label in zip(x, y.tolist()):
            yield tf.train.Example(features=tf.train.Features(feature={
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                "shape": shape,
            })).SerializeToString()


def _tally(seen, labels):
    """Adds a chunk's labels to the class counts and the unlabelled count in `seen`."""
    labeled = labels[labels != arrays.UNLABELED]
    counts = np.bincount(labeled, minlength=len(seen["counts"]))
    counts[:len(seen["counts"])] += seen["counts"]
    seen.update(counts=counts, unlabeled=seen["unlabeled"] + len(labels) - len(labeled))


def _kept_shards(folder, plan, seen):
    """The entries of the complete shards a killed write of `plan` left in `folder` (numbered 0..k-1, each of
    plan's images_per_shard records), their shapes and labels tallied into `seen`."""
    import tensorflow as tf

    for name in os.listdir(folder):
        if name.startswith(".shard-"):  # what a kill left of the shard being written
            os.remove(os.path.join(folder, name))
    names = sorted(n for n in os.listdir(folder) if _SHARD_FILE.fullmatch(n))
    if names != [SHARD_NAME.format(k) for k in range(len(names))]:
        raise DataError(f"{folder}: shards {', '.join(names)} are not numbered from 0: remove the folder and write it "
                        "again")
    spec = {"label": tf.io.FixedLenFeature([], tf.int64), "shape": tf.io.FixedLenFeature([3], tf.int64)}
    entries = []
    for name in names:
        path = os.path.join(folder, name)
        _check_record_headers(path, plan["images_per_shard"], 2**31)
        for batch in tf.data.TFRecordDataset(path).batch(CHUNK).map(lambda r: tf.io.parse_example(r, spec)):
            labels, shape = batch["label"].numpy(), tuple(int(d) for d in batch["shape"].numpy()[0])
            seen["shape"] = seen["shape"] or shape
            _tally(seen, labels)
        entries.append({"file": name, "records": plan["images_per_shard"], "bytes": os.path.getsize(path)})
    return entries


def check_new_folder(folder):
    """A write goes to an absent or empty folder, never over a dataset or a user's files. A rerun of a killed write
    refuses too, unless that write recorded its plan (`resume_from`, which checks the plan before this): otherwise
    the kept shards may not come from the same source and settings."""
    folder = os.fspath(folder)
    if os.path.isfile(os.path.join(folder, METADATA)):
        raise DataError(f"{folder} already holds a sharded dataset: remove it or choose another --out")
    if os.path.isdir(folder) and any(_SHARD_FILE.fullmatch(n) or n.startswith(".shard-") or n == PLAN
                                     for n in os.listdir(folder)):
        raise DataError(f"{folder} holds an unfinished write (shards but no {METADATA}): remove the folder and "
                        "write it again")
    files.check_replaceable_dir(folder)


def is_sharded(path):
    """Whether `path` is a folder of this format (or meant to be one: shards without metadata, an unfinished write)."""
    path = os.path.expanduser(os.fspath(path))
    return os.path.isdir(path) and any(name == METADATA or _SHARD_FILE.fullmatch(name) for name in os.listdir(path))


def split_folder(path, split):
    """The sharded folder holding `split` at `path`: `path/split` when that is one (a dataset written per split), else
    `path` when it is one (one folder serves every split, as an .npz does), else None."""
    path = os.path.expanduser(os.fspath(path))
    return next((p for p in (os.path.join(path, split), path) if is_sharded(p)), None)


def fingerprint(folder):
    """A short hash of a sharded folder's metadata and its files' sizes and times: a rewritten dataset gets a new one
    (for caches of what was computed from it) without reading the images."""
    import hashlib

    h = hashlib.sha256(json.dumps(read_metadata(folder), sort_keys=True).encode())
    for name in sorted(os.listdir(folder)):
        stat = os.stat(os.path.join(folder, name))
        h.update(f"{name}{stat.st_size}{stat.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def read_metadata(folder):
    """The validated metadata.json of the sharded dataset in `folder`, once every shard is found at its size."""
    folder = os.fspath(folder)
    path = os.path.join(folder, METADATA)
    if not os.path.isfile(path):
        raise DataError(_no_metadata(folder))
    try:
        with open(path) as f:
            metadata = json.load(f)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable ({type(e).__name__}: {e}); write the dataset again") from None
    _check_metadata(metadata, path)
    for shard in metadata["shards"]:
        shard_path = os.path.join(folder, shard["file"])
        if not os.path.isfile(shard_path):
            raise DataError(f"{shard_path}: missing ({METADATA} lists it); copy it back or write the dataset again")
        if os.path.getsize(shard_path) != shard["bytes"]:
            raise DataError(f"{shard_path}: {os.path.getsize(shard_path)} bytes, {METADATA} says {shard['bytes']}: "
                            "truncated or replaced; write the dataset again")
    return metadata


def _no_metadata(folder):
    """Why `folder` is not a sharded dataset, in one line."""
    if not os.path.isdir(folder):
        return f"{folder}: " + ("not a folder" if os.path.exists(folder) else "no such folder")
    names = os.listdir(folder)
    if not names:
        return f"{folder} is empty: not a sharded dataset (write one with python -m augment_tf.shard)"
    if any(_SHARD_FILE.fullmatch(n) for n in names):
        return f"{folder} holds shards but no {METADATA}: an unfinished write; write the dataset again"
    return f"{folder}: no {METADATA}: not a sharded dataset (write one with python -m augment_tf.shard)"


def _check_metadata(metadata, path):
    """Raises a one-line DataError for a metadata.json that is not version 1 of this format or disagrees with itself."""
    def count(value, least=0):
        return isinstance(value, int) and not isinstance(value, bool) and value >= least

    def bad(what):
        return DataError(f"{path}: {what}; write the dataset again")

    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise bad(f"not {FORMAT} metadata (format {metadata.get('format') if isinstance(metadata, dict) else None!r})")
    if metadata.get("version") != VERSION:
        raise DataError(f"{path}: format version {metadata.get('version')!r}, but this augment_tf reads version "
                        f"{VERSION}: write the dataset again with this version")
    shape, classes, counts = metadata.get("image_shape"), metadata.get("num_classes"), metadata.get("class_counts")
    if not (isinstance(shape, list) and len(shape) == 3 and all(count(d, 1) for d in shape)):
        raise bad(f"image_shape {shape!r} is not [H, W, C]")
    if metadata.get("dtype") != "uint8":
        raise bad(f"dtype {metadata.get('dtype')!r}; only uint8 images are")
    if not ((classes is None or count(classes, 1)) and isinstance(counts, list) and len(counts) == (classes or 0)
            and all(count(c) for c in counts) and count(metadata.get("unlabeled"))):
        raise bad(f"num_classes {classes!r}, class_counts and unlabeled disagree")
    shards = metadata.get("shards")
    if not (isinstance(shards, list) and shards and all(
            isinstance(s, dict) and isinstance(s.get("file"), str) and _SHARD_FILE.fullmatch(s["file"])
            and count(s.get("records"), 1) and count(s.get("bytes"), 1) for s in shards)):
        raise bad("shards must list entries {file: shard-NNNNN.tfrecord, records: n >= 1, bytes: n}")
    if len({s["file"] for s in shards}) != len(shards):
        raise bad("a shard is listed twice")
    total, labelled = sum(s["records"] for s in shards), sum(counts) + metadata["unlabeled"]
    if not total == labelled == metadata.get("images"):
        raise bad(f"inconsistent counts: the shards hold {total} images, the class counts and unlabeled "
                  f"{labelled}, images says {metadata.get('images')!r}")
    pixels = math.prod(shape)
    for s in shards:
        if not s["records"] * (FRAMING + pixels) <= s["bytes"] <= s["records"] * (FRAMING + pixels + RECORD_OVERHEAD):
            raise bad(f"{s['file']}: {s['bytes']} bytes cannot hold {s['records']} images of {shape}")


def worker_shards(metadata, worker=(0, 1)):
    """The shards worker `index` of `count` reads: every count-th one from `index`, so that the workers' sets are
    disjoint and together cover every shard."""
    index, count = worker
    if not 0 <= index < count:
        raise DataError(f"worker {index} of {count}: the index runs 0..count-1")
    if count > len(metadata["shards"]):
        raise DataError(f"{count} workers but {len(metadata['shards'])} shards: every worker needs a shard of its "
                        "own; write the dataset again with a smaller --images-per-shard")
    return metadata["shards"][index::count]


def batches_per_epoch(metadata, batch_size, num_workers=1):
    """Batches every worker yields per epoch with drop_remainder: the fewest that any worker's shards give, so that
    all workers take as many steps."""
    fewest = min(sum(s["records"] for s in worker_shards(metadata, (i, num_workers))) for i in range(num_workers))
    if not 1 <= batch_size <= fewest:
        raise DataError(f"batch size {batch_size} does not fit {fewest} images per worker: lower --batch-size")
    return fewest // batch_size


def shard_dataset(folder, batch_size, *, seed, epoch=0, shuffle_buffer=SHUFFLE_BUFFER, value_range=(-1.0, 1.0),
                  repeat=True, drop_remainder=True, worker=(0, 1), cycle_length=CYCLE_LENGTH, labels=None):
    """Batches of (float32 images (B, H, W, C) in `value_range`, int64 labels) streamed from a sharded folder.

    Epoch e (a pass over this worker's shards) reads its shards in an order drawn from (seed, e), `cycle_length` at
    once, interleaved, then shuffles each block of `shuffle_buffer` records with a permutation drawn from (seed, e,
    block): a pure function of (seed, e), so starting at `epoch` reads nothing of the epochs before. With
    `drop_remainder`, every epoch is `batches_per_epoch` batches. `worker=(index, count)` reads `worker_shards`.
    `labels` (one per image, in stored order) replaces the label of every unlabelled record (see `_parser`).
    Bad records raise tf.errors at iteration: iterate inside `as_data_errors()`."""
    import tensorflow as tf

    if shuffle_buffer < 1 or cycle_length < 1:
        raise DataError(f"shuffle_buffer and cycle_length must be at least 1, got {shuffle_buffer}, {cycle_length}")
    metadata = read_metadata(folder)
    shards = worker_shards(metadata, worker)
    steps = batches_per_epoch(metadata, batch_size, worker[1]) if drop_remainder else None
    records = _record_reader(folder, metadata, shards, cycle_length)

    def one_epoch(e):
        seed_e = tf.stack([tf.constant(seed, tf.int64), e])
        order = tf.random.experimental.stateless_shuffle(tf.range(len(shards), dtype=tf.int64), seed=seed_e)
        batches = _block_shuffled(records(order), shuffle_buffer, seed_e).rebatch(batch_size, drop_remainder)
        return batches.take(steps) if drop_remainder else batches

    epochs = tf.data.Dataset.counter(epoch) if repeat else tf.data.Dataset.from_tensors(tf.constant(epoch, tf.int64))
    parse = _parser(folder, metadata, shards, value_range, labels)
    ds = epochs.flat_map(one_epoch).map(parse, tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()  # sharding is `worker`'s: tf.distribute must not shard again
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options)


def read_chunks(folder, chunk_size=CHUNK, labels=None):
    """(x uint8 (n, H, W, C), y int64 (n,)) chunks of a sharded dataset in stored order, validated as
    `shard_dataset` validates (`labels` as there): for re-sharding, a pass over every image, a look at the first."""
    import tensorflow as tf

    metadata = read_metadata(folder)
    shards = metadata["shards"]
    records = _record_reader(folder, metadata, shards, cycle_length=1)(tf.range(len(shards), dtype=tf.int64))
    chunks = records.rebatch(chunk_size).map(_parser(folder, metadata, shards, None, labels))
    with as_data_errors():
        yield from chunks.as_numpy_iterator()


@contextlib.contextmanager
def as_data_errors():
    """Turns what a shard pipeline raises while iterated (a tf.errors exception carrying its message) into a one-line
    DataError; wrap the loop, or the `model.fit`, that iterates `shard_dataset`."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as e:
        found = _MARKED.search(str(e))
        if found is None:
            raise
        raise DataError(found.group(1)) from None


def _record_reader(folder, metadata, shards, cycle_length):
    """order -> batches of (shard index, record index, serialized record) of the `shards` in that order, interleaved.

    Before TensorFlow opens a shard, `_check_record_headers` refuses a length field no record of this dataset can
    have: TF's reader would allocate it (2**40 bytes, say) before checking the record's CRC. A shard that ends early
    or fails a CRC ends its stream short of its count: a marked error names the file and record."""
    import tensorflow as tf

    paths = [os.path.join(folder, s["file"]) for s in shards]
    longest = math.prod(metadata["image_shape"]) + RECORD_OVERHEAD

    def checked(index):
        index = int(index)
        try:
            _check_record_headers(paths[index], shards[index]["records"], longest)
        except DataError as e:
            raise ValueError(f"<shards>{e}</shards>") from None
        return index

    def shard_records(index):
        path = tf.gather(paths, tf.py_function(checked, [index], tf.int64))
        expected = tf.gather(tf.constant([s["records"] for s in shards], tf.int64), index)
        end = tf.data.Dataset.from_tensors(tf.zeros([0], tf.string))  # batches are never empty: the end marker

        def numbered(first, batch):
            return first + tf.size(batch, tf.int64), (first, batch)

        def not_end(first, batch):
            whole = _fail_unless(tf.logical_or(tf.size(batch) > 0, tf.equal(first, expected)), lambda: tf.strings.join(
                [path, ": record ", tf.strings.as_string(first), " is corrupt (checksum mismatch) or cut short"]))
            return whole & (tf.size(batch) > 0)

        # Batches, not records, go through steps written in Python: a call per record would cost ~10x the rate.
        batches = tf.data.TFRecordDataset(path).ignore_errors().batch(READ_BATCH).concatenate(end)
        batches = batches.scan(tf.constant(0, tf.int64), numbered).filter(not_end)
        return batches.map(lambda first, batch: (
            tf.fill(tf.shape(batch), index), first + tf.range(tf.size(batch, tf.int64)), batch))

    def interleaved(order):
        shards_in_order = tf.data.Dataset.from_tensor_slices(order)
        return shards_in_order.interleave(shard_records, cycle_length=min(cycle_length, len(shards)),
                                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    return interleaved


def _check_record_headers(path, records, longest):
    """Refuses a shard whose record length fields exceed `longest` or the file, or count other than `records`;
    once per file version (path, size, mtime)."""
    try:
        stat = os.stat(path)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    _checked_headers(path, stat.st_size, stat.st_mtime_ns, records, longest)


@functools.lru_cache(maxsize=None)
def _checked_headers(path, size, mtime_ns, records, longest):
    """`_check_record_headers` on one file version; cached, as only a success returns."""
    del mtime_ns  # part of the cache key only
    fd, offset, found = os.open(path, os.O_RDONLY), 0, 0
    try:
        while offset < size:
            header = os.pread(fd, 8, offset)
            length = struct.unpack("<Q", header)[0] if len(header) == 8 else None
            if length is not None and length > longest:
                raise DataError(f"{path}: record {found} declares {length} bytes, more than the {longest} a record of "
                                "this dataset can hold: a corrupt file; write the dataset again")
            if length is None or offset + FRAMING + length > size:
                raise DataError(f"{path}: record {found} is cut short (the file ends at byte {size}); write the "
                                "dataset again")
            offset, found = offset + FRAMING + length, found + 1
    finally:
        os.close(fd)
    if found != records:
        raise DataError(f"{path}: holds {found} records, {METADATA} says {records}; write the dataset again")


def _fail_unless(ok, message):
    """True, or an InvalidArgumentError carrying the line `message()` (built only on failure) for `as_data_errors`."""
    import tensorflow as tf

    def fail():
        marked = tf.strings.join(["<shards>", message(), "</shards>"])
        with tf.control_dependencies([tf.debugging.Assert(False, [marked])]):
            return tf.constant(False)

    return tf.cond(ok, lambda: tf.constant(True), fail)


def _block_shuffled(batches, block, seed):
    """Blocks of `block` records of `batches`, each permuted by a stateless shuffle drawn from (seed, block number):
    unlike `Dataset.shuffle`, whose order also follows TensorFlow's global seed."""
    import tensorflow as tf

    def permuted(number, columns):
        seed_b = tf.random.experimental.stateless_fold_in(seed, number)
        order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(columns[0])[0]), seed=seed_b)
        return tuple(tf.gather(c, order) for c in columns)

    return batches.rebatch(block).enumerate().map(permuted)


def _parser(folder, metadata, shards, value_range, given_labels=None):
    """Batched (shard index, record index, record) -> (images, labels), refusing a record whose image bytes, shape
    or label disagree with the metadata; images float32 in `value_range`, or uint8 when it is None.
    `given_labels` (one per image of the dataset, in stored order: a run's pseudo-labels) replaces the label of
    each unlabelled record; `shards` index into the metadata's shards, whose offsets place each record."""
    import tensorflow as tf

    if given_labels is not None:
        starts = np.cumsum([0] + [s["records"] for s in metadata["shards"]])
        offsets = tf.constant([starts[metadata["shards"].index(s)] for s in shards], tf.int64)
        given_labels = tf.constant(np.asarray(given_labels, np.int64))

    shape, classes = metadata["image_shape"], metadata["num_classes"] or 0
    pixels, paths = math.prod(shape), [os.path.join(folder, s["file"]) for s in shards]
    spec = {"image": tf.io.FixedLenFeature([], tf.string, default_value=""),
            "label": tf.io.FixedLenFeature([], tf.int64, default_value=_MISSING_LABEL),
            "shape": tf.io.RaggedFeature(tf.int64)}
    labels_allowed = f"0..{classes - 1} or -1 (unlabelled)" if classes else "-1: the dataset has no labels"

    def parse(shard, number, records):
        features = tf.io.parse_example(records, spec)
        lengths, shapes, labels = tf.strings.length(features["image"]), features["shape"], features["label"]
        length_ok = tf.equal(lengths, pixels)
        shape_ok = tf.equal(shapes.row_lengths(), 3) & tf.reduce_all(
            tf.equal(shapes.to_tensor(-1, shape=[None, 3]), shape), axis=1)
        label_ok = tf.equal(labels, arrays.UNLABELED) | ((labels >= 0) & (labels < classes))

        def problem():
            i, text = tf.argmin(tf.cast(length_ok & shape_ok & label_ok, tf.int32)), tf.strings.as_string
            image = tf.strings.join(["an image of ", text(lengths[i]), f" bytes, not the {pixels} of {shape}"])
            shaped = tf.strings.join(["shape ", tf.strings.format("{}", shapes[i]), f", not {shape} as in {METADATA}"])
            label = tf.strings.join(["label ", text(labels[i]), f": labels are {labels_allowed}"])
            what = tf.where(~length_ok[i], image, tf.where(~shape_ok[i], shaped, tf.where(
                tf.equal(labels[i], _MISSING_LABEL), "no label", label)))
            return tf.strings.join([tf.gather(paths, shard[i]), ": record ", text(number[i]), ": ", what])

        checked = _fail_unless(tf.reduce_all(length_ok & shape_ok & label_ok), problem)
        with tf.control_dependencies([checked]):
            images = tf.reshape(tf.io.decode_raw(features["image"], tf.uint8), [-1, *shape])
        if given_labels is not None:
            labels = tf.where(tf.equal(labels, arrays.UNLABELED),
                              tf.gather(given_labels, tf.gather(offsets, shard) + number), labels)
        if value_range is None:
            return images, labels
        low, high = (float(v) for v in value_range)
        return tf.cast(images, tf.float32) * ((high - low) / 255.0) + low, labels

    return parse
