"""Tests for augment_tf.shard_format (the sharded format, its writer, its streaming reader) and python -m augment_tf.shard."""

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from augment_tf import cli, data, shard, shard_format, sources
from augment_tf.errors import AugmentError, DataError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny(n=60, classes=5, seed=0):
    """`n` random 4x3 images (all distinct) and labels cycling 0..classes-1, one of them unlabelled."""
    x = np.random.default_rng(seed).integers(0, 256, (n, 4, 3), dtype=np.uint8)
    y = np.arange(n) % classes
    y[3] = data.UNLABELED
    return x, y


def chunks(x, y, size=7):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


@pytest.fixture
def written(tmp_path):
    """A sharded folder of `tiny()` in 6 shards of 10; returns (folder, x, y)."""
    x, y = tiny()
    shard_format.write_shards(chunks(x, y), tmp_path / "s", images_per_shard=10)
    return tmp_path / "s", x, y


def epochs(ds, steps, count):
    """`count` epochs of `steps` batches each: a list of (uint8 images, labels)."""
    batches, out = iter(ds), []
    for _ in range(count):
        parts = [next(batches) for _ in range(steps)]
        out.append((np.concatenate([p[0].numpy() for p in parts]).astype(np.uint8),
                    np.concatenate([p[1].numpy() for p in parts])))
    return out


def as_rows(x, y):
    """The (image bytes, label) pairs of a dataset, sorted: equal for the same images and labels in any order."""
    return sorted((image.tobytes(), int(label)) for image, label in zip(x.reshape(len(x), -1), y))


# --- writing and reading back ----------------------------------------------------------------


def test_round_trip_every_image_once_per_epoch_in_a_seeded_order(written):
    folder, x, y = written
    metadata = shard_format.read_metadata(folder)
    assert metadata["num_classes"] == 5 and metadata["unlabeled"] == 1 and metadata["images"] == 60
    assert metadata["class_counts"] == [12, 12, 12, 11, 12] and len(metadata["shards"]) == 6
    assert sorted(os.listdir(folder)) == ["metadata.json"] + [f"shard-0000{i}.tfrecord" for i in range(6)]
    read = epochs(shard_format.shard_dataset(folder, 6, seed=3, shuffle_buffer=16, value_range=(0, 255)), 10, 3)
    for images, labels in read:
        assert images.shape == (60, 4, 3, 1) and labels.dtype == np.int64
        assert as_rows(images, labels) == as_rows(x, y)  # every image and label exactly once
    assert not np.array_equal(read[0][1], read[1][1]) and not np.array_equal(read[1][0], read[2][0])
    # epoch 2 built directly (what --resume does) and again from a fresh pipeline: the same order
    again = epochs(shard_format.shard_dataset(folder, 6, seed=3, shuffle_buffer=16, value_range=(0, 255), epoch=2), 10, 1)
    np.testing.assert_array_equal(again[0][0], read[2][0])
    np.testing.assert_array_equal(again[0][1], read[2][1])
    other = epochs(shard_format.shard_dataset(folder, 6, seed=4, shuffle_buffer=16, value_range=(0, 255)), 10, 1)
    assert not np.array_equal(other[0][1], read[0][1])


def test_value_range_drop_remainder_and_stored_order(written):
    folder, x, y = written
    images, labels = next(iter(shard_format.shard_dataset(folder, 7, seed=0)))
    assert images.dtype == tf.float32 and images.shape == (7, 4, 3, 1)
    assert float(tf.reduce_min(images)) >= -1 and float(tf.reduce_max(images)) <= 1
    assert shard_format.batches_per_epoch(shard_format.read_metadata(folder), 7) == 8  # 60 // 7: the remainder dropped
    single = shard_format.shard_dataset(folder, 7, seed=0, repeat=False, drop_remainder=False)
    assert sum(len(b[1]) for b in single) == 60
    stored = list(shard_format.read_chunks(folder, chunk_size=25))
    assert [len(c[1]) for c in stored] == [25, 25, 10]
    np.testing.assert_array_equal(np.concatenate([c[0] for c in stored])[..., 0], x)
    np.testing.assert_array_equal(np.concatenate([c[1] for c in stored]), y)


def test_plain_tensorflow_reads_it_with_the_documented_snippet(written):
    folder, x, y = written
    doc = open(os.path.join(ROOT, "docs", "data.md")).read()
    snippet = doc[doc.index("meta = json.load"):].split("```")[0]
    scope = {"json": json, "tf": tf, "folder": str(folder)}
    exec(snippet, scope)
    images, labels = zip(*scope["ds"].as_numpy_iterator())
    np.testing.assert_array_equal(np.stack(images)[..., 0], x)
    np.testing.assert_array_equal(labels, y)


def test_writer_consumes_lazily(tmp_path):
    pulled, completed, per_shard, chunk = [0], [0], 10, 4

    def endless_chunks():
        x, y = tiny(chunk)
        for _ in range(30):
            assert pulled[0] - completed[0] <= per_shard + chunk, "the writer ran more than a shard ahead"
            pulled[0] += chunk
            yield x, y

    metadata = shard_format.write_shards(endless_chunks(), tmp_path / "s", per_shard,
                                   on_shard=lambda entry: completed.__setitem__(0, completed[0] + entry["records"]))
    assert metadata["images"] == 120 and len(metadata["shards"]) == 12


def test_default_shard_size_is_about_shard_bytes(tmp_path, monkeypatch):
    """Without images_per_shard every shard but the last holds SHARD_BYTES of 28x28 images, within the few percent
    each record's framing and feature names add: shards of 8 kB here, 10 images each, whatever the chunks."""
    monkeypatch.setattr(shard_format, "SHARD_BYTES", 8000)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (45, 28, 28), dtype=np.uint8), np.arange(45) % 10
    metadata = shard_format.write_shards(chunks(x, y), tmp_path / "s")
    assert [entry["records"] for entry in metadata["shards"]] == [10, 10, 10, 10, 5]
    for entry in metadata["shards"][:-1]:
        size = os.path.getsize(tmp_path / "s" / entry["file"])
        assert entry["bytes"] == size and 0.9 * 8000 <= size <= 1.1 * 8000, size


def test_a_failed_write_leaves_whole_shards_only_and_a_rerun_refuses(tmp_path):
    x, y = tiny()

    def failing_chunks():
        yield x[:23], y[:23]  # two whole shards of 10 and three images of a third
        raise RuntimeError("source died")

    folder = tmp_path / "s"
    with pytest.raises(RuntimeError, match="source died"):
        shard_format.write_shards(failing_chunks(), folder, images_per_shard=10)
    assert sorted(os.listdir(folder)) == ["shard-00000.tfrecord", "shard-00001.tfrecord"]  # no temporary, no metadata
    assert [sum(1 for _ in tf.data.TFRecordDataset(str(folder / n))) for n in sorted(os.listdir(folder))] == [10, 10]
    with pytest.raises(DataError, match="holds an unfinished write .*remove the folder"):
        shard_format.write_shards(chunks(x, y), folder, images_per_shard=10)
    (folder / "shard-00000.tfrecord").rename(folder / ".shard-00002.x7.tmp.tfrecord")  # what a kill -9 leaves
    (folder / "shard-00001.tfrecord").unlink()
    with pytest.raises(DataError, match="unfinished write"):
        shard_format.write_shards(chunks(x, y), folder, images_per_shard=10)
    shard_format.write_shards(chunks(x, y), tmp_path / "t", 10)
    with pytest.raises(DataError, match="already holds a sharded dataset"):
        shard_format.write_shards(chunks(x, y), tmp_path / "t", 10)


def test_chunks_of_other_shapes_or_bad_labels_are_refused(tmp_path):
    x, y = tiny()
    with pytest.raises(DataError, match="chunk 1 holds images of shape .*one shape"):
        shard_format.write_shards([(x, y), (x[:, :3], y)], tmp_path / "a")
    with pytest.raises(DataError, match="chunk 0.*labels must be >= 0"):
        shard_format.write_shards([(x, y - 3)], tmp_path / "b")
    with pytest.raises(DataError, match="chunk 0 holds label 1000000000004; labels run 0..K-1 with K at most 65536"):
        shard_format.write_shards([(x, y + 10**12)], tmp_path / "d")
    with pytest.raises(DataError, match="no images"):
        shard_format.write_shards([], tmp_path / "c")


# --- workers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [2, 3])
def test_workers_read_disjoint_files_covering_all(tmp_path, workers):
    x, y = tiny(70)
    folder = tmp_path / "s"
    metadata = shard_format.write_shards(chunks(x, y), folder, images_per_shard=10)  # 7 shards
    sets = [{s["file"] for s in shard_format.worker_shards(metadata, (i, workers))} for i in range(workers)]
    assert set.union(*sets) == {s["file"] for s in metadata["shards"]}
    assert sum(map(len, sets)) == len(metadata["shards"])  # disjoint
    read = [shard_format.shard_dataset(folder, 5, seed=0, worker=(i, workers), value_range=(0, 255), repeat=False,
                                 drop_remainder=False) for i in range(workers)]
    batches = [b for ds in read for b in ds]
    images = np.concatenate([b[0].numpy() for b in batches]).astype(np.uint8)
    assert as_rows(images, np.concatenate([b[1].numpy() for b in batches])) == as_rows(x, y)
    fewest = min(sum(s["records"] for s in shard_format.worker_shards(metadata, (i, workers))) for i in range(workers))
    assert shard_format.batches_per_epoch(metadata, 5, workers) == fewest // 5
    with pytest.raises(DataError, match="8 workers but 7 shards"):
        shard_format.worker_shards(metadata, (0, 8))


# --- bad shards met while reading ------------------------------------------------------------


def masked_crc32c(data_bytes):
    """The TFRecord checksum (CRC-32C, masked), to craft records TensorFlow accepts as well framed."""
    crc = 0xFFFFFFFF
    for byte in data_bytes:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record_offsets(path):
    """Byte offset of each record of a TFRecord file."""
    raw, offsets, at = open(path, "rb").read(), [], 0
    while at < len(raw):
        offsets.append(at)
        at += 16 + struct.unpack("<Q", raw[at:at + 8])[0]
    return offsets


def read_all(folder, **kwargs):
    """Iterates one epoch of `folder` the way a training loop must: inside `as_data_errors`."""
    with shard_format.as_data_errors():
        for _ in shard_format.shard_dataset(folder, 5, seed=0, repeat=False, **kwargs):
            pass


def rewrite_record(folder, shard_index, record_index, change):
    """Shard `shard_index` with record `record_index` replaced by `change(tf.train.Example)`; metadata follows."""
    path = folder / f"shard-{shard_index:05d}.tfrecord"
    records = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    example = tf.train.Example.FromString(records[record_index])
    change(example.features.feature)
    records[record_index] = example.SerializeToString()
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["shards"][shard_index]["bytes"] = path.stat().st_size
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return str(path)


def test_a_corrupt_record_mid_epoch_names_file_and_record(written):
    folder = written[0]
    path = folder / "shard-00002.tfrecord"
    raw = bytearray(path.read_bytes())
    raw[record_offsets(path)[4] + 12 + 20] ^= 0xFF  # a pixel of record 4: its CRC no longer matches
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=f"^{path}: record 4 is corrupt"):
        read_all(folder)


def test_a_shard_cut_short_after_the_start_names_file_and_record(written):
    folder = written[0]
    path = folder / "shard-00003.tfrecord"
    dataset = shard_format.shard_dataset(folder, 5, seed=0, repeat=False)  # metadata and sizes checked here
    os.truncate(path, record_offsets(path)[7] + 30)
    with pytest.raises(DataError, match=f"^{path}: record 7 is cut short"):
        with shard_format.as_data_errors():
            for _ in dataset:
                pass


def test_a_record_claiming_a_huge_length_is_refused_before_tensorflow_reads_it(written):
    folder = written[0]
    path = folder / "shard-00001.tfrecord"
    raw = path.read_bytes()
    start = record_offsets(path)[3]
    assert masked_crc32c(raw[start:start + 8]) == struct.unpack("<I", raw[start + 8:start + 12])[0]
    length = struct.pack("<Q", 2**40)  # a terabyte, under a valid checksum: TensorFlow would allocate it
    bomb = raw[:start] + length + struct.pack("<I", masked_crc32c(length))
    path.write_bytes(bomb + bytes(len(raw) - len(bomb)))  # same size: metadata.json still agrees
    with pytest.raises(DataError, match=f"^{path}: record 3 declares 1099511627776 bytes, more than the 268"):
        read_all(folder)


@pytest.mark.parametrize("change, message", [
    (lambda f: f["image"].bytes_list.value.__setitem__(0, b"\0" * 11), r"an image of 11 bytes, not the 12 of \[4, 3"),
    (lambda f: f["shape"].int64_list.value.__setitem__(1, 4), r"shape \[4 4 1\], not \[4, 3, 1\]"),
    (lambda f: f["shape"].int64_list.value.append(1), r"shape \[4 3 1 1\], not"),
    (lambda f: f["label"].int64_list.value.__setitem__(0, 5), r"label 5: labels are 0..4 or -1"),
    (lambda f: f["label"].int64_list.value.__setitem__(0, -7), "label -7"),
    (lambda f: f.__delitem__("label"), "no label"),
])
def test_a_record_disagreeing_with_the_metadata_names_file_and_record(written, change, message):
    folder = written[0]
    path = rewrite_record(folder, 4, 6, change)
    with pytest.raises(DataError, match=f"^{path}: record 6: {message}"):
        read_all(folder)


def test_read_chunks_validates_too(written):
    folder = written[0]
    path = rewrite_record(folder, 4, 6, lambda f: f["label"].int64_list.value.__setitem__(0, 5))
    with pytest.raises(DataError, match=f"^{path}: record 6: label 5"):
        list(shard_format.read_chunks(folder))


def test_a_labelled_record_in_an_unlabelled_dataset(tmp_path):
    x, _ = tiny(20)
    folder = tmp_path / "s"
    metadata = shard_format.write_shards([(x, np.full(20, data.UNLABELED))], folder, 10)
    assert metadata["num_classes"] is None and metadata["class_counts"] == [] and metadata["unlabeled"] == 20
    path = rewrite_record(folder, 1, 2, lambda f: f["label"].int64_list.value.__setitem__(0, 0))
    with pytest.raises(DataError, match=f"^{path}: record 2: label 0: labels are -1: the dataset has no labels"):
        read_all(folder)


def test_keras_fit_errors_become_one_data_error(written):
    import keras

    folder = written[0]
    rewrite_record(folder, 0, 1, lambda f: f["label"].int64_list.value.__setitem__(0, 9))
    model = keras.Sequential([keras.Input((4, 3, 1)), keras.layers.Flatten(), keras.layers.Dense(5)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    dataset = shard_format.shard_dataset(folder, 6, seed=0)
    with pytest.raises(DataError, match="shard-00000.tfrecord: record 1: label 9"):
        with shard_format.as_data_errors():
            model.fit(dataset, epochs=1, steps_per_epoch=10, verbose=0)


# --- bad folders and metadata ----------------------------------------------------------------


def test_folders_that_are_not_sharded_datasets(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        shard_format.read_metadata(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: not a sharded dataset"):
        shard_format.shard_dataset(tmp_path / "empty", 4, seed=0)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="no metadata.json: not a sharded dataset"):
        shard_format.read_metadata(tmp_path / "other")


def test_shards_without_metadata_are_an_unfinished_write(written):
    folder = written[0]
    (folder / "metadata.json").unlink()
    with pytest.raises(DataError, match="holds shards but no metadata.json: an unfinished write"):
        shard_format.shard_dataset(folder, 4, seed=0)


def edit(key, value):
    return lambda metadata: metadata.__setitem__(key, value)


@pytest.mark.parametrize("change, message", [
    (edit("version", 2), "format version 2, but this augment_tf reads version 1"),
    (edit("image_shape", [4, 3]), r"image_shape \[4, 3\] is not \[H, W, C\]"),
    (edit("dtype", "float32"), "only uint8"),
    (edit("class_counts", [12, 12, 12, 11]), "num_classes 5, class_counts and unlabeled disagree"),
    (edit("unlabeled", 2), "inconsistent counts: the shards hold 60 images, the class counts and unlabeled 61"),
    (edit("images", 59), "images says 59"),
    (lambda m: m["shards"][1].update(file="../shard-00001.tfrecord"), "shards must list entries"),
    (lambda m: m["shards"][1].update(file="shard-00000.tfrecord"), "listed twice"),
    (lambda m: m["shards"][1].update(bytes=10), "shard-00001.tfrecord: 10 bytes cannot hold 10 images"),
])
def test_inconsistent_metadata_is_one_line(written, change, message):
    folder = written[0]
    metadata = json.loads((folder / "metadata.json").read_text())
    change(metadata)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(DataError, match=message) as info:
        shard_format.read_metadata(folder)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("damage, message", [
    (lambda folder: (folder / "metadata.json").write_text("{not json"), "metadata.json: unreadable"),
    (lambda folder: (folder / "metadata.json").write_text("[1, 2]"), "not augment_tf.shards metadata"),
    (lambda folder: (folder / "shard-00005.tfrecord").unlink(), "shard-00005.tfrecord: missing"),
    (lambda folder: open(folder / "shard-00005.tfrecord", "ab").write(b"x"), "bytes, metadata.json says"),
])
def test_damaged_folder_is_one_line(written, damage, message):
    folder = written[0]
    damage(folder)
    with pytest.raises(DataError, match=message) as info:
        shard_format.read_metadata(folder)
    assert "\n" not in str(info.value)


# --- sources and the command line ------------------------------------------------------------


def run_shard(*args):
    return subprocess.run([sys.executable, "-m", "augment_tf.shard", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_shards_an_npz(tmp_path, capsys):
    x, y = tiny(30)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    assert cli.run(shard.main, [str(tmp_path / "d.npz"), "--out", str(tmp_path / "s"), "--images-per-shard", "10"]) == 0
    out, err = capsys.readouterr()
    assert out == f"wrote 30 images (4, 3, 1) (5 classes, 1 unlabelled) in 3 shards to {tmp_path / 's'}\n"
    assert err.count("shard-000") == 3  # one progress line per shard when stderr is not a terminal
    stored = list(shard_format.read_chunks(tmp_path / "s"))
    np.testing.assert_array_equal(stored[0][0][..., 0], x)
    np.testing.assert_array_equal(stored[0][1], y)


def test_cli_shards_an_idx_folder_and_refuses_in_one_line(tmp_path, capsys):
    x, y = tiny(12)
    data.write_idx(tmp_path / "idx" / "train-images-idx3-ubyte.gz", x)
    data.write_idx(tmp_path / "idx" / "train-labels-idx1-ubyte.gz", np.maximum(y, 0).astype(np.uint8))
    assert shard.main([str(tmp_path / "idx"), "--out", str(tmp_path / "s")]) == 0
    assert capsys.readouterr().out == f"wrote 12 images (4, 3, 1) (5 classes) in 1 shards to {tmp_path / 's'}\n"
    again = run_shard(tmp_path / "idx", "--out", tmp_path / "s")
    assert again.returncode == 2 and again.stdout == ""
    refusal = f"{tmp_path / 's'} already holds a sharded dataset: remove it or choose another --out"
    assert again.stderr == f"error: {refusal}\n"


def test_cli_reshards_a_sharded_folder(written, tmp_path, capsys):
    folder, x, y = written
    assert shard.main([str(folder), "--out", str(tmp_path / "r"), "--images-per-shard", "25"]) == 0
    assert capsys.readouterr().out.startswith("wrote 60 images (4, 3, 1) (5 classes, 1 unlabelled) in 3 shards")
    stored = list(shard_format.read_chunks(tmp_path / "r", chunk_size=100))
    np.testing.assert_array_equal(stored[0][0][..., 0], x)
    np.testing.assert_array_equal(stored[0][1], y)


def test_cli_bad_sources(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        shard.main([str(tmp_path / "missing.npz"), "--out", str(tmp_path / "s")])
    with pytest.raises(AugmentError, match="--images-per-shard must be a positive integer"):
        shard.main([str(tmp_path), "--out", str(tmp_path / "s"), "--images-per-shard", "0"])
    assert not (tmp_path / "s").exists()


def test_tfds_source_streams_in_chunks(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    with tfds.testing.mock_data(num_examples=10):
        _, chunked = sources.source_chunks("mnist", "train", chunk_size=4)
        assert [len(y) for _, y in chunked] == [4, 4, 2]
        _, chunked = sources.source_chunks("mnist", "train", chunk_size=4)
        metadata = shard_format.write_shards(chunked, tmp_path / "s", 3)
    assert metadata["images"] == 10 and metadata["image_shape"] == [28, 28, 1] and len(metadata["shards"]) == 4
