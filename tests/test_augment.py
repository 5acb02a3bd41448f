"""augment_tf.augment (augmented dataset files) and augment_tf.mixing (on-the-fly mixing), on a tiny conditional GAN."""

import json
import os
import shutil
import subprocess
import sys
import types
import zipfile

import keras
import numpy as np
import pytest

from augment_tf import amounts, augment, data, defaults, mixing, reference, runs, sampling, synthesis, writers
from augment_tf.errors import AugmentError
from tests.conftest import command_error

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMBALANCED = [12, 2, 5, 5, 5, 5, 5, 5, 5, 3]


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """(balanced .npz with 64 random 'digits', imbalanced .npz with IMBALANCED counts per class)."""
    rng, folder = np.random.default_rng(0), tmp_path_factory.mktemp("data")
    np.savez(folder / "train.npz", x=rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), y=np.arange(64) % 10)
    y = np.repeat(np.arange(10), IMBALANCED)
    np.savez(folder / "imbalanced.npz", x=rng.integers(0, 256, (len(y), 28, 28), dtype=np.uint8), y=y)
    return str(folder / "train.npz"), str(folder / "imbalanced.npz")


@pytest.fixture
def run(short_gan_run):
    """A conditional GAN run trained for 2 steps (on `real`'s balanced images: conftest's npz_data)."""
    return str(short_gan_run)


def augment_cli(run, real, out, *args, seed=0):
    """`python -m augment_tf.augment` in this process, on the balanced real data unless --real is given; without the
    estimate of whether the samples help (tests/test_benefit.py covers it)."""
    return augment.main([run, "--out", str(out), "--data-dir", real[0], "--seed", str(seed), "--no-estimate",
                         *map(str, args)])


def load_npz(path):
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


# --- amounts ---------------------------------------------------------------------------------------------------


def test_synthetic_counts_per_amount_and_classes():
    y = np.repeat(np.arange(4), [8, 2, 4, 0])
    counts = lambda **kw: amounts.synthetic_counts(y, 4, **kw).tolist()
    assert counts(per_class=3) == [3, 3, 3, 3]
    assert counts(per_class=3, classes=[1, 3]) == [0, 3, 0, 3]
    assert counts(ratio=0.5) == [4, 1, 2, 0]
    assert counts(ratio=0.75, classes=[0]) == [6, 0, 0, 0]
    assert counts(balance=True, balance_share=1) == [0, 6, 4, 8]
    assert counts(balance=True, balance_share=1, classes=[1]) == [0, 6, 0, 0]
    assert counts(balance=True, balance_share=0.5) == [0, 3, 2, 8]  # class 3: no real image to copy, all synthetic
    assert counts(balance=True) == counts(balance=True, balance_share=defaults.BALANCE_SHARE)
    for bad, message in [({}, "exactly one"), ({"per_class": 2, "balance": True}, "exactly one"),
                         ({"per_class": 0}, "positive integer"), ({"per_class": -3}, "positive integer"),
                         ({"ratio": -0.5}, "positive number"), ({"ratio": float("nan")}, "positive number"),
                         ({"per_class": 1, "classes": [4]}, "0..3"),
                         ({"per_class": 1, "balance_share": 0.5}, "only applies with --balance"),
                         ({"balance": True, "balance_share": 1.5}, r"must be in \[0, 1\]")]:
        with pytest.raises(AugmentError, match=message):
            counts(**bad)


@pytest.mark.parametrize("args, expected", [
    (["--synthetic-per-class", 3, "--classes", "3,5,8"], [0, 0, 0, 3, 0, 3, 0, 0, 3, 0]),
    (["--ratio", 0.5], [4, 4, 4, 4, 3, 3, 3, 3, 3, 3]),  # real counts 7,7,7,7,6,...; 3.5 rounds to 4
    (["--balance", "--balance-share", 1], [12 - n for n in IMBALANCED]),
    (["--balance", "--balance-share", 1, "--classes", "1,9"], [0, 10, 0, 0, 0, 0, 0, 0, 0, 9]),
])
def test_counts_and_flags_are_exact(args, expected, run, real, tmp_path):
    real_path = real[1] if "--balance" in args else real[0]
    augment_cli(run, real, tmp_path / "out.npz", "--real", real_path, *args)
    out, (x_real, y_real) = load_npz(tmp_path / "out.npz"), data.load_arrays(data_dir=real_path)
    n_real, n_syn = len(y_real), sum(expected)
    assert out["x"].shape == (n_real + n_syn, 28, 28) and out["x"].dtype == np.uint8
    assert out["y"].dtype == np.int64 and out["is_synthetic"].dtype == bool
    assert out["is_synthetic"].tolist() == [False] * n_real + [True] * n_syn
    np.testing.assert_array_equal(out["x"][:n_real], x_real[..., 0])
    np.testing.assert_array_equal(out["y"][:n_real], y_real)
    assert np.bincount(out["y"][n_real:], minlength=10).tolist() == expected
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary["synthetic_per_class"] == expected and summary["n_real"] == n_real and summary["filter"] is None
    assert (tmp_path / "out_grid.png").exists()


def test_balance_share_fills_the_rest_of_each_shortfall_with_copies_of_real_images(run, real, tmp_path):
    """--balance --balance-share 0.4: every class ends at the largest (12); 0.4 of each shortfall synthetic, the rest
    copies of the class's own real images, written after the originals and marked real; the same seed, the same
    copies."""
    shortfall = np.array([12 - n for n in IMBALANCED])
    synthetic = np.rint(0.4 * shortfall).astype(int)
    for out in ("a.npz", "b.npz"):
        augment_cli(run, real, tmp_path / out, "--real", real[1], "--balance", "--balance-share", 0.4)
    out, (x_real, y_real) = load_npz(tmp_path / "a.npz"), data.load_arrays(data_dir=real[1])
    assert np.bincount(out["y"]).tolist() == [12] * 10
    assert np.bincount(out["y"][out["is_synthetic"]], minlength=10).tolist() == synthetic.tolist()
    real_part, y_part = out["x"][~out["is_synthetic"]], out["y"][~out["is_synthetic"]]
    np.testing.assert_array_equal(real_part[: len(y_real)], x_real[..., 0])
    for image, label in zip(real_part[len(y_real):], y_part[len(y_real):]):  # each copy is a real image of its class
        assert any(np.array_equal(image, x) for x in x_real[y_real == label][..., 0])
    summary = json.loads((tmp_path / "a.json").read_text())
    assert summary["real_copies_per_class"] == (shortfall - synthetic).tolist() and summary["balance_share"] == 0.4
    np.testing.assert_array_equal(out["x"], load_npz(tmp_path / "b.npz")["x"])


def test_library_api_matches_the_cli(run, real, tmp_path):
    sampler, config = runs.load_sampler(run)
    x_real, y_real = data.load_arrays(data_dir=real[0])
    x, y, is_synthetic = synthesis.augmented_arrays(sampler, config, x_real, y_real, per_class=2, classes=[0, 7], seed=3,
                                                    temperature=sampling.default_temperature(config))  # augment's
    augment_cli(run, real, tmp_path / "out.npz", "--synthetic-per-class", 2, "--classes", "0,7", seed=3)
    out = load_npz(tmp_path / "out.npz")
    np.testing.assert_array_equal(x[..., 0], out["x"])
    np.testing.assert_array_equal(y, out["y"])
    np.testing.assert_array_equal(is_synthetic, out["is_synthetic"])


# --- formats ---------------------------------------------------------------------------------------------------


def test_temperature_scales_the_noise(run):
    sampler, config = runs.load_sampler(run)
    labels = np.repeat([3, 7], 4)
    default = sampling.sample(sampler, config, labels=labels, seed=5)
    np.testing.assert_array_equal(default, sampling.sample(sampler, config, labels=labels, seed=5, temperature=1.0))
    at_zero = sampling.sample(sampler, config, labels=labels, seed=5, temperature=0.0)  # every draw the class's centre
    assert (at_zero[:4] == at_zero[0]).all() and (at_zero[4:] == at_zero[4]).all()
    assert not (default[:4] == default[0]).all()
    x, _, _ = synthesis.synthesize(sampler, config, [0, 0, 0, 4], seed=5, temperature=0.0)
    np.testing.assert_array_equal(x, at_zero[:4])


def test_idx_and_tfds_read_back_as_the_npz_and_same_seed_same_bytes(run, real, tmp_path):
    import tensorflow_datasets as tfds

    amount = ["--synthetic-per-class", 2, "--classes", "1,4"]
    outs = {"npz": tmp_path / "a.npz", "idx": tmp_path / "idx", "tfds": tmp_path / "tfds" / "aug_test" / "1.0.0"}
    for fmt, out in outs.items():
        augment_cli(run, real, out, *amount, "--format", fmt)
    ref = load_npz(outs["npz"])
    x_ref = ref["x"][..., None]

    x, y = data.load_arrays(data_dir=outs["idx"])
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(y, ref["y"])
    np.testing.assert_array_equal(data.read_idx(outs["idx"] / writers.IS_SYNTHETIC_IDX).astype(bool),
                                  ref["is_synthetic"])

    builder = tfds.builder_from_directory(str(outs["tfds"]))
    assert builder.info.features["label"].num_classes == 10
    examples = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1))
    for key, expected in (("image", x_ref), ("label", ref["y"]), ("is_synthetic", ref["is_synthetic"])):
        np.testing.assert_array_equal(examples[key], expected)
    x, y = tfds.as_numpy(tfds.load("aug_test", split="train", data_dir=str(tmp_path / "tfds"),
                                   as_supervised=True, batch_size=-1))
    np.testing.assert_array_equal(x, x_ref)

    for folder in (outs["idx"], outs["tfds"]):
        assert {"grid.png", "summary.json"} <= set(os.listdir(folder))
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temporary leftovers
    with zipfile.ZipFile(outs["npz"]) as npz:  # fixed entry timestamps: byte-identical whenever written
        assert {info.date_time for info in npz.infolist()} == {(1980, 1, 1, 0, 0, 0)}

    again = {fmt: tmp_path / "again" / os.path.relpath(out, tmp_path) for fmt, out in outs.items()}
    for fmt, out in again.items():
        augment_cli(run, real, out, *amount, "--format", fmt)
    assert tree_bytes(outs["npz"]) == tree_bytes(again["npz"])
    assert tree_bytes(outs["idx"]) == tree_bytes(again["idx"])
    assert tree_bytes(outs["tfds"]) == tree_bytes(again["tfds"])
    augment_cli(run, real, tmp_path / "seed1.npz", *amount, seed=1)
    assert not np.array_equal(load_npz(tmp_path / "seed1.npz")["x"], ref["x"])


def tree_bytes(path):
    """{relative name: bytes} of a file (with its .json and _grid.png siblings) or of every file in a folder."""
    if os.path.isfile(path):
        names = [path, path.with_suffix(".json"), path.with_name(f"{path.stem}_grid.png")]
        return {name.name: name.read_bytes() for name in names}
    return {str(f.relative_to(path)): f.read_bytes() for f in path.rglob("*") if f.is_file()}


# --- filter ----------------------------------------------------------------------------------------------------


class StubClassifier:
    """Agrees with every label except on images whose pixel sum is a multiple of 3; records what it saw."""

    def __init__(self, rejects=lambda x: x.reshape(len(x), -1).sum(axis=1) % 3 == 0):
        self.rejects, self.seen, self.rejected = rejects, 0, 0

    def predict(self, x, batch_size=None, verbose=0):
        rejected = self.rejects(x)
        self.seen, self.rejected = self.seen + len(x), self.rejected + int(rejected.sum())
        return np.where(rejected[:, None], 0.0, 1.0) * np.ones((len(x), 10))


def test_filter_keeps_only_accepted_samples_and_reports_the_dropped(run, real, tmp_path, monkeypatch, capsys):
    stub = StubClassifier()
    monkeypatch.setattr(reference, "reference_classifier", lambda dataset, data_dir, **kw: stub)
    augment_cli(run, real, tmp_path / "out.npz", "--synthetic-per-class", 6, "--filter", "--threshold", 0.5)
    out, summary = load_npz(tmp_path / "out.npz"), json.loads((tmp_path / "out.json").read_text())
    synthetic = out["x"][out["is_synthetic"]]
    assert np.bincount(out["y"][out["is_synthetic"]], minlength=10).tolist() == [6] * 10
    assert not stub.rejects(synthetic).any()
    assert stub.rejected > 0 and summary["filter"]["rejected"] == stub.rejected
    assert summary["filter"]["generated"] == stub.seen and summary["filter"]["short_per_class"] == [0] * 10
    assert f"dropped {stub.rejected} of {stub.seen} generated samples (the reference classifier below 0.5" in (
        capsys.readouterr().err)
    assert summary["filter"]["classifier"] == "the reference classifier"


def test_filter_uses_and_names_the_runs_own_classifier_where_it_has_one(run, tmp_path, monkeypatch):
    own = tmp_path / "run"
    shutil.copytree(run, own)
    monkeypatch.setattr(reference, "reference_classifier", lambda dataset, data_dir, **kw: "reference")
    assert synthesis.filter_classifier(str(own), "mnist", None) == ("reference", "the reference classifier")
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]).save(
        own / "classifier.keras")
    classifier, name = synthesis.filter_classifier(str(own), "mnist", None)
    assert name == "the run's classifier.keras" and classifier.output_shape == (None, 10)


def test_filter_stops_after_max_rounds_and_says_what_is_short(run):
    sampler, config = runs.load_sampler(run)
    always_four = types.SimpleNamespace(predict=lambda x, **kw: np.tile(np.eye(10)[4], (len(x), 1)))
    counts = np.array([0, 0, 0, 4, 2, 0, 0, 0, 0, 0])
    x, y, report = synthesis.synthesize(sampler, config, counts, classifier=always_four, threshold=0.9, max_rounds=2)
    assert y.tolist() == [4, 4] and len(x) == 2
    assert report["rounds"] == 2 and report["short_per_class"][3] == 4
    assert report["rejected_per_class"][3] == 4 + 40  # round 2 draws 10x what is missing of a class always rejected


# --- mixing pipeline -------------------------------------------------------------------------------------------


def test_mixed_dataset_has_the_exact_ratio_fresh_noise_and_fits(run):
    sampler, config = runs.load_sampler(run)
    x_real, y_real = np.ones((60, 28, 28, 1), np.uint8), np.full(60, 9)  # real: all-ones images of class 9
    make = lambda: mixing.mixed_dataset(sampler, config, x_real, y_real, synthetic_fraction=0.25, batch_size=16,
                                        classes=[3, 5], seed=0)
    once, twice = (list(make().as_numpy_iterator()) for _ in range(2))
    dataset = make()
    first, second = list(dataset.as_numpy_iterator()), list(dataset.as_numpy_iterator())
    assert len(first) == 60 // 12  # an epoch: one pass over the real data, 12 real + 4 synthetic per batch
    for x, y in first + second:
        assert x.shape == (16, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int64
        assert (y[:12] == 9).all() and np.isin(y[12:], [3, 5]).all()
        assert (x[:12] == 1.0).all() and (x[12:] == np.round(x[12:])).all() and 0 <= x.min() and x.max() <= 255
    for (xa, ya), (xb, yb) in zip(once, twice):  # same seed, same batches
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(first[0][0][12:], second[0][0][12:])  # the noise goes on across epochs

    classifier = reference.build_classifier((28, 28, 1), 10)
    classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert len(classifier.fit(dataset, epochs=1, verbose=0).history["loss"]) == 1
    real_only = list(mixing.mixed_dataset(sampler, config, x_real, y_real, synthetic_fraction=0, batch_size=16))
    assert len(real_only) == 3 and all((y.numpy() == 9).all() for _, y in real_only)
    tiny = list(mixing.mixed_dataset(sampler, config, x_real[:5], y_real[:5], synthetic_fraction=0.25,
                                     batch_size=16, seed=0))  # 5 real images repeated to fill 12 real places
    assert len(tiny) == 1 and tiny[0][0].shape == (16, 28, 28, 1) and (tiny[0][1][:12].numpy() == 9).all()
    for bad in (1.0, -0.1):
        with pytest.raises(AugmentError, match="synthetic_fraction"):
            mixing.mixed_dataset(sampler, config, x_real, y_real, synthetic_fraction=bad)


# --- errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--synthetic-per-class", "0"], "--synthetic-per-class must be a positive integer"),
    (["--ratio", "0.5", "--balance"], "exactly one of"),
    ([], "exactly one of"),
    (["--balance", "--threshold", "0.5"], "only apply with --filter"),
    (["--balance", "--filter", "--threshold", "1.5"], "--threshold must be"),
    (["--balance", "--format", "idx"], "drop the .npz"),
    (["--ratio", "0.5", "--balance-share", "0.5"], "only applies with --balance"),
    (["--balance", "--balance-share", "2"], "--balance-share must be in"),
    (["--balance", "--held-out", "held.npz"], "drop --no-estimate"),
])
def test_bad_options_fail_before_any_work(args, message, real, tmp_path):
    with pytest.raises(AugmentError, match=message):
        augment_cli(str(tmp_path / "no-run"), real, tmp_path / "out.npz", *args)
    assert os.listdir(tmp_path) == []


def test_folder_output_is_all_or_nothing(run, real, tmp_path, monkeypatch):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("keep me")
    with pytest.raises(AugmentError, match="already exists"):
        augment_cli(run, real, tmp_path / "taken", "--balance")
    write_idx = data.write_idx
    failing = lambda path, array: (write_idx(path, array) if "images" in str(path) else 1 / 0)
    monkeypatch.setattr(data, "write_idx", failing)
    with pytest.raises(ZeroDivisionError):
        augment_cli(run, real, tmp_path / "out", "--synthetic-per-class", 1)
    assert sorted(os.listdir(tmp_path)) == ["taken"]


@pytest.fixture(scope="module")
def unconditional_run(short_gan_run, tmp_path_factory):
    """The conditional run relabelled unconditional in its config: enough for the CLI to refuse it."""
    out = tmp_path_factory.mktemp("runs") / "gan"
    shutil.copytree(short_gan_run, out)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "conditional": False, "num_classes": None, "model": "GAN"}))
    return str(out)


@pytest.mark.parametrize("which, args, message", [
    ("run", ["--synthetic-per-class", "2", "--classes", "3,12"], "--classes: classes must be in 0..9"),
    ("run", ["--ratio", "-0.5"], "--ratio must be a positive number"),
    ("unconditional", ["--balance"], "unconditional run"),
    ("missing", ["--balance"], "no such run directory"),
])
def test_cli_errors_are_one_line_exit_2_and_write_nothing(which, args, message, run, unconditional_run, real,
                                                          tmp_path, capsys):
    run_dir = {"run": run, "unconditional": unconditional_run, "missing": str(tmp_path / "missing")}[which]
    code, _, err = command_error(augment.main, [run_dir, "--out", tmp_path / "out", "--data-dir", real[0], *args],
                                 capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error:") and message in err
    assert os.listdir(tmp_path) == []


def test_python_m_augment_is_one_line_and_exit_2_in_a_real_process(run, real, tmp_path):
    """The cases above run in-process through `cli.run`; the real `python -m augment_tf.augment` does the same."""
    command = [sys.executable, "-m", "augment_tf.augment", run, "--out", str(tmp_path / "out"), "--data-dir", real[0],
               "--ratio", "-0.5"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error:")
    assert "--ratio must be a positive number" in result.stderr
    assert os.listdir(tmp_path) == []
