"""Tests for augment_tf.data: IDX/.npz/TFDS loading and the tf.data pipeline. Never uses the network."""

import gzip
import io
import os
import time
import zipfile

import numpy as np
import pytest
import tensorflow_datasets as tfds

from augment_tf import data
from augment_tf.errors import DataError


@pytest.fixture(autouse=True)
def fresh_array_cache():
    """No arrays cached by an earlier test (conftest's `isolated` also cuts the network)."""
    data._load.cache_clear()
    yield
    data._load.cache_clear()


def small_mnist(folder, n=12, labels=None, split="train", gz=True):
    """Writes an IDX image/label pair for `split` into `folder`; returns the arrays."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 6, 5), dtype=np.uint8)
    y = np.arange(n, dtype=np.uint8) % 10 if labels is None else np.asarray(labels, np.uint8)
    suffix = ".gz" if gz else ""
    data.write_idx(folder / f"{data.IDX_FILES[split][0]}{suffix}", x)
    data.write_idx(folder / f"{data.IDX_FILES[split][1]}{suffix}", y)
    return x, y


# --- IDX files -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (2, 3, 4, 1)])
def test_idx_round_trip(tmp_path, name, shape):
    array = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    data.write_idx(tmp_path / name, array)
    assert ((tmp_path / name).read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = data.read_idx(tmp_path / name)
    assert back.dtype == np.uint8 and back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary file left behind


def test_idx_format_is_decided_by_content_not_name(tmp_path):
    array = np.arange(6, dtype=np.uint8)
    data.write_idx(tmp_path / "x.gz", array)
    os.rename(tmp_path / "x.gz", tmp_path / "plain-name")  # gzip content, no .gz
    data.write_idx(tmp_path / "raw", array)
    os.rename(tmp_path / "raw", tmp_path / "raw.gz")  # raw content, .gz name
    np.testing.assert_array_equal(data.read_idx(tmp_path / "plain-name"), array)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "raw.gz"), array)


def test_idx_gzip_is_reproducible(tmp_path):
    array = np.arange(50, dtype=np.uint8)
    data.write_idx(tmp_path / "a" / "x.gz", array)
    time.sleep(0.01)
    data.write_idx(tmp_path / "b" / "x.gz", array)
    assert (tmp_path / "a" / "x.gz").read_bytes() == (tmp_path / "b" / "x.gz").read_bytes()
    assert gzip.open(tmp_path / "a" / "x.gz").read()[:4] == bytes([0, 0, 8, 1])


def test_write_idx_rejects_non_uint8(tmp_path):
    with pytest.raises(DataError, match="uint8"):
        data.write_idx(tmp_path / "f", np.zeros((2, 2), np.float32))
    assert not os.listdir(tmp_path)


def _header(dtype=0x08, dims=(2, 3)):
    return bytes([0, 0, dtype, len(dims)]) + np.asarray(dims, ">u4").tobytes()


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "not an IDX file"),
        (b"\x01\x02\x08\x01" + bytes(8), "bad magic"),
        (_header(dtype=0x0D), "unsupported IDX data type 0x0d"),
        (bytes([0, 0, 8, 0]), "dimension count 0"),
        (bytes([0, 0, 8, 3]) + bytes(4), "truncated header"),
        (_header() + bytes(5), "truncated: expected 6 bytes of data, found 5"),
        (_header() + bytes(8), "2 trailing bytes"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_malformed(tmp_path, content, match, gz):
    path = tmp_path / ("bad-idx3-ubyte" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(DataError, match=match) as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("cut", [10, -12])
def test_read_idx_corrupt_gzip(tmp_path, cut):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    good = gzip.compress(_header(dims=(100, 100)) + bytes(10_000))
    path.write_bytes(good[:cut] if cut > 0 else good[:20] + b"garbage!" * 4 + good[20 + 32 :])
    with pytest.raises(DataError, match="corrupt gzip") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file") as info:
        data.read_idx(tmp_path / "nope.gz")
    assert "nope.gz" in str(info.value)


# --- local sources ---------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_folder_of_idx_files(tmp_path, gz):
    x, y = small_mnist(tmp_path, gz=gz)
    small_mnist(tmp_path, n=5, split="test", gz=not gz)
    xs, ys = data.load_arrays(data_dir=tmp_path)
    assert xs.shape == (12, 6, 5, 1) and xs.dtype == np.uint8
    assert ys.shape == (12,) and ys.dtype == np.int64
    np.testing.assert_array_equal(xs[..., 0], x)
    np.testing.assert_array_equal(ys, y)
    assert data.load_arrays(split="test", data_dir=str(tmp_path))[0].shape == (5, 6, 5, 1)


def test_folder_missing_files_lists_expected_names(tmp_path):
    data.write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(DataError) as info:
        data.load_arrays(data_dir=tmp_path)
    message = str(info.value)
    for name in ("train-images-idx3-ubyte[.gz]", "train-labels-idx1-ubyte[.gz]", "train.npz", str(tmp_path)):
        assert name in message
    with pytest.raises(DataError, match="'validation'.*validation.npz"):
        data.load_arrays(split="validation", data_dir=tmp_path)
    with pytest.raises(DataError, match="no such file or folder"):
        data.load_arrays(data_dir=tmp_path / "missing")


def test_folder_count_mismatch(tmp_path):
    data.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((4, 3, 3), np.uint8))
    data.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="4 images but 3 labels") as info:
        data.load_arrays(split="test", data_dir=tmp_path)
    assert "t10k-images-idx3-ubyte.gz" in str(info.value)


def test_folder_swapped_files(tmp_path):
    data.write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(3, np.uint8))
    data.write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros((3, 2, 2), np.uint8))
    with pytest.raises(DataError, match=r"expected images \(N, H, W\) and labels \(N,\)"):
        data.load_arrays(data_dir=tmp_path)


def test_folder_corrupt_file_named(tmp_path):
    small_mnist(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        data.load_arrays(data_dir=tmp_path)


def test_npz_file_is_the_data_whatever_the_split(tmp_path):
    x = np.random.default_rng(2).integers(0, 256, (9, 4, 4, 3), dtype=np.uint8)
    np.savez(tmp_path / "set.npz", x=x, y=np.arange(9) % 3)
    for split in ("train", "test", "anything"):
        xs, ys = data.load_arrays(split=split, data_dir=tmp_path / "set.npz")
        assert xs.shape == (9, 4, 4, 3) and ys.dtype == np.int64
        np.testing.assert_array_equal(xs, x)


def test_npz_in_folder_and_integer_images(tmp_path):
    np.savez(tmp_path / "test.npz", x=np.full((3, 4, 4), 200, np.int32), y=np.array([[1], [0], [2]]))
    xs, ys = data.load_arrays(split="test", data_dir=tmp_path)
    assert xs.dtype == np.uint8 and xs.shape == (3, 4, 4, 1) and xs.max() == 200
    np.testing.assert_array_equal(ys, [1, 0, 2])


@pytest.mark.parametrize(
    "arrays, match",
    [
        (dict(x=np.zeros((3, 4, 4), np.uint8)), "missing array 'y'"),
        (dict(y=np.zeros(3, np.int64)), "missing array 'x'"),
        (dict(x=np.zeros((3, 4, 4), np.float32), y=np.zeros(3, int)), "uint8.*float32"),
        (dict(x=np.full((3, 4, 4), 256), y=np.zeros(3, int)), "integer images must be 0..255"),
        (dict(x=np.zeros((3, 4), np.uint8), y=np.zeros(3, int)), "with shape"),
        (dict(x=np.zeros((3, 4, 4), np.uint8), y=np.zeros(3)), "labels y must be 1-D integers"),
        (dict(x=np.zeros((3, 4, 4), np.uint8), y=np.zeros(2, int)), "3 images but 2 labels"),
        (dict(x=np.zeros((0, 4, 4), np.uint8), y=np.zeros(0, int)), "x holds no images"),
        (dict(x=np.zeros((3, 4, 4), np.uint8), y=np.array([0, -2, 2])), "labels must be >= 0"),
    ],
)
def test_npz_invalid(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=match) as info:
        data.load_arrays(data_dir=tmp_path / "bad.npz")
    assert "bad.npz" in str(info.value)


def test_not_an_npz(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"hello")
    with pytest.raises(DataError, match="x.npz: not an .npz archive"):
        data.load_arrays(data_dir=tmp_path / "x.npz")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match="x.txt: not a folder or an .npz file"):
        data.load_arrays(data_dir=tmp_path / "x.txt")


def test_env_var_is_honoured_and_argument_wins(tmp_path, monkeypatch):
    (tmp_path / "env").mkdir()
    (tmp_path / "arg").mkdir()
    small_mnist(tmp_path / "env", n=4)
    small_mnist(tmp_path / "arg", n=6)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "env"))
    assert len(data.load_arrays()[0]) == 4
    assert len(data.load_arrays(data_dir=tmp_path / "arg")[0]) == 6
    monkeypatch.setenv(data.DATA_DIR_ENV, "")  # empty means unset: TFDS, which fails offline here
    monkeypatch.setattr(data, "_read_tfds", lambda name, split: (np.zeros((1, 2, 2, 1), np.uint8), np.zeros(1, int)))
    assert data.load_arrays()[0].shape == (1, 2, 2, 1)


def test_arrays_are_cached_read_only_and_reread_when_rewritten(tmp_path):
    small_mnist(tmp_path, n=4)
    x1, _ = data.load_arrays(data_dir=tmp_path)
    assert data.load_arrays(data_dir=tmp_path)[0] is x1
    with pytest.raises(ValueError):
        x1[0, 0, 0, 0] = 1
    small_mnist(tmp_path, n=7)
    assert len(data.load_arrays(data_dir=tmp_path)[0]) == 7


def test_random_bytes_are_never_offered_to_pickle(tmp_path):
    """np.load would call random bytes pickled data and suggest allow_pickle=True: never pass that advice on."""
    (tmp_path / "r.npz").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object), y=np.zeros(1, int))
    for name, match in (("r.npz", "r.npz: not an .npz archive"), ("objects.npz", "Python objects, which are never")):
        with pytest.raises(DataError, match=match) as info:
            data.read_npz(str(tmp_path / name), ("x", "y"))
        assert "pickle" not in str(info.value).replace("unpickled", "")


def damaged(raw, case):
    """The bytes of the .npz archive `raw` (arrays x, then y, stored uncompressed) with one kind of damage."""
    if case == "cut":  # the second half gone, the zip directory at the end with it
        return raw[: len(raw) // 2]
    if case == "changed byte":  # one byte of x's data changed: the directory is whole, x's checksum is not
        start = raw.index(b"\x93NUMPY")
        data_start = start + 10 + int.from_bytes(raw[start + 8 : start + 10], "little")  # after the .npy header
        return raw[:data_start] + bytes([raw[data_start] ^ 0xFF]) + raw[data_start + 1 :]
    # "short array": a whole archive whose x.npy ends before the data its header announces
    array = io.BytesIO()
    np.save(array, np.zeros((3, 4, 4), np.uint8))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("x.npy", array.getvalue()[:-10])
        z.writestr("y.npy", b"")
    return archive.getvalue()


@pytest.mark.parametrize("case, message", [
    ("cut", r"bad.npz: not an .npz archive \(no zip structure\)"),
    ("changed byte", r"bad.npz: damaged .npz archive \(BadZipFile: Bad CRC-32 for file 'x.npy'\)"),
    ("short array", r"bad.npz: damaged .npz archive \(ValueError: EOF: reading array data"),
], ids=["cut", "changed byte", "short array"])
def test_damaged_npz(tmp_path, case, message):
    np.savez(tmp_path / "ok.npz", x=np.zeros((3, 4, 4), np.uint8), y=np.zeros(3, int))
    (tmp_path / "bad.npz").write_bytes(damaged((tmp_path / "ok.npz").read_bytes(), case))
    with pytest.raises(DataError, match=message) as info:
        data.read_npz(str(tmp_path / "bad.npz"), ("x", "y"))
    assert str(info.value).endswith("; save with np.savez(path, x=images, y=labels)") and "\n" not in str(info.value)


def test_num_classes():
    assert data.num_classes(np.array([0, 3, 1, 2])) == 4
    with pytest.raises(DataError, match=r"labels.npz: no samples of class 10, 11 \(labels run 0..12\)"):
        data.num_classes(np.r_[np.arange(10), 12], "labels.npz")


# Real MNIST as published: images per class, the first labels, and the pixel mean every PyTorch MNIST example
# normalises with (0.1307 of 255 for train; 0.1325 for test).
MNIST_SPLITS = {
    "train": (60000, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], 0.1307),
    "test": (10000, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9], 0.1325),
}


def test_real_mnist(mnist_path):
    for split, (n, class_counts, first_labels, mean) in MNIST_SPLITS.items():
        x, y = data.load_arrays(split=split, data_dir=mnist_path)
        assert x.shape == (n, 28, 28, 1) and x.dtype == np.uint8
        assert y.shape == (n,) and y.dtype == np.int64
        assert y.min() == 0 and y.max() == 9 and data.num_classes(y) == 10
        assert np.bincount(y).tolist() == class_counts and y[:10].tolist() == first_labels
        assert x.min() == 0 and x.max() == 255 and x.mean() / 255 == pytest.approx(mean, abs=1e-4)


# --- TensorFlow Datasets (mocked or failing: never the network) ------------------------------


@pytest.fixture
def mock_tfds(monkeypatch):
    """tfds.testing.mock_data, plus is_prepared=True (mock_data leaves it False, which would download)."""
    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    with tfds.testing.mock_data(num_examples=10):
        yield


@pytest.mark.parametrize("name, shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_tfds_mocked(mock_tfds, name, shape):
    x, y = data.load_arrays(name, "test")
    assert x.shape == (10, *shape) and x.dtype == np.uint8
    assert y.shape == (10,) and y.dtype == np.int64 and 0 <= y.min() and y.max() < 10


def test_tfds_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'no_such_set'.*--data-dir"):
        data.load_arrays("no_such_set")


@pytest.fixture
def empty_tfds(tmp_path, monkeypatch):
    """TFDS with an empty data dir, and a download that fails like offline (a guard: never called)."""
    monkeypatch.setattr(tfds.core.constants, "DATA_DIR", str(tmp_path))
    calls = []

    def offline_download(self, *args, **kwargs):
        calls.append(self.name)
        raise ConnectionError("Max retries exceeded")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline_download)
    return calls


def test_tfds_offline_fails_fast(empty_tfds):
    start = time.monotonic()
    with pytest.raises(DataError) as info:
        data.load_arrays("mnist")
    message = str(info.value)
    assert "could not load 'mnist' from TensorFlow Datasets (no network?)" in message
    assert "--data-dir" in message and data.DATA_DIR_ENV in message and "\n" not in message
    assert empty_tfds == []  # the probe failed first: tfds never started its retrying download
    assert time.monotonic() - start < 15


def test_tfds_download_error_becomes_data_error(empty_tfds, monkeypatch):
    monkeypatch.setattr(data, "_online", lambda builder: True)
    with pytest.raises(DataError, match=r"\(no network\?\).*--data-dir.*ConnectionError"):
        data.load_arrays("fashion_mnist", "test")
    assert empty_tfds == ["fashion_mnist"]


# --- tf.data pipeline ------------------------------------------------------------------------


def arrays(n=10):
    x = np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2) * 6
    x[0] = 0
    x[1] = 255
    return x, np.arange(n)


def batches(ds, count=None):
    return [(a.numpy(), b.numpy()) for a, b in (ds.take(count) if count else ds)]


@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 1.0)])
def test_make_dataset_values_and_shapes(value_range):
    x, y = arrays()
    out = batches(data.make_dataset(x, y, 4, shuffle=False, value_range=value_range))
    assert len(out) == 2  # drop_remainder: 10 // 4
    images, labels = out[0]
    assert images.dtype == np.float32 and images.shape == (4, 2, 2, 1)
    assert labels.dtype == np.int64 and labels.shape == (4,)
    np.testing.assert_array_equal(labels, [0, 1, 2, 3])
    assert images[0].min() == value_range[0] and images[1].max() == value_range[1]
    np.testing.assert_allclose(images[2], value_range[0] + x[2, ..., None] / 255 * (value_range[1] - value_range[0]),
                               rtol=1e-6)


def test_make_dataset_keeps_remainder():
    x, y = arrays()
    out = batches(data.make_dataset(x, y, 4, shuffle=False, drop_remainder=False))
    assert [len(b[1]) for b in out] == [4, 4, 2]


def test_make_dataset_same_seed_same_order_across_epochs():
    x, y = arrays(30)

    def order(seed):
        ds = data.make_dataset(x, y, 5, seed=seed, repeat=True)
        return np.concatenate([b[1] for b in batches(ds, 18)])  # three epochs

    first = order(7)
    np.testing.assert_array_equal(first, order(7))
    epochs = first.reshape(3, 30)
    assert all(sorted(e) == list(range(30)) for e in epochs)  # each epoch is a permutation...
    assert not np.array_equal(epochs[0], epochs[1])  # ...reshuffled every epoch
    assert not np.array_equal(first, order(8))
    ds = data.make_dataset(x, y, 5, seed=7, repeat=True)  # each iteration starts again at epoch 0
    assert all(np.array_equal(np.concatenate([b[1] for b in batches(ds, 12)]), first[:60]) for _ in range(2))


def test_make_dataset_one_pass_reshuffles_every_iteration():
    x, y = arrays(30)
    passes = lambda seed: [np.concatenate([b[1] for b in batches(ds)]) for ds in [data.make_dataset(x, y, 5, seed=seed)]
                           for _ in range(2)]
    first, second = passes(7)
    assert sorted(first) == sorted(second) == list(range(30)) and not np.array_equal(first, second)
    np.testing.assert_array_equal(np.stack(passes(7)), np.stack([first, second]))


def test_make_dataset_errors():
    x, y = arrays()
    with pytest.raises(DataError, match="lower --batch-size"):
        data.make_dataset(x, y, 11)
    assert len(batches(data.make_dataset(x, y, 11, drop_remainder=False))) == 1
    with pytest.raises(DataError, match="uint8"):
        data.make_dataset(x.astype(np.float32) / 255, y)
    with pytest.raises(DataError, match="10 images but 9 labels"):
        data.make_dataset(x, y[:9])


def test_load_dataset(tmp_path):
    small_mnist(tmp_path, n=10)
    ds = data.load_dataset(data_dir=tmp_path, batch_size=3, seed=0, value_range=(0.0, 1.0))
    out = batches(ds)
    assert len(out) == 3 and out[0][0].shape == (3, 6, 5, 1)
    assert all(0.0 <= b[0].min() and b[0].max() <= 1.0 for b in out)
