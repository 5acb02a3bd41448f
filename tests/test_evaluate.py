"""Tests for augment_tf.evaluate: FID, precision/recall, the cached reference classifier and the CLI."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from augment_tf import cli, data, evaluate, metrics, reference
from augment_tf.errors import AugmentError, DataError
from tests.conftest import command_error

ROOT = Path(__file__).parents[1]
KEYS = {"dataset", "n_samples", "fid", "precision", "recall", "classifier_test_accuracy", "label_fidelity"}


@pytest.fixture(scope="module")
def mnist_dir(mnist_path, tmp_path_factory):
    """A small IDX copy of real MNIST: 2000 train and 500 test images."""
    folder = tmp_path_factory.mktemp("mnist")
    for split, n in (("train", 2000), ("test", 500)):
        x, y = data.load_arrays(split=split, data_dir=mnist_path)
        data.write_idx(folder / f"{data.IDX_FILES[split][0]}.gz", x[:n, ..., 0])
        data.write_idx(folder / f"{data.IDX_FILES[split][1]}.gz", y[:n].astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def random_digits_dir(tmp_path_factory):
    """An IDX folder of random 28x28 'digits' (200 train, 50 test, labels 0..9): for what needs no real MNIST."""
    folder, rng = tmp_path_factory.mktemp("random_digits"), np.random.default_rng(0)
    for split, n in (("train", 200), ("test", 50)):
        data.write_idx(folder / f"{data.IDX_FILES[split][0]}.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        data.write_idx(folder / f"{data.IDX_FILES[split][1]}.gz", (np.arange(n) % 10).astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("shared_cache")


def real_test(mnist_dir, n=300):
    x, y = data.load_arrays(split="test", data_dir=mnist_dir)
    return x[:n, ..., 0], y[:n]


def unseen_real(mnist_path, n=300):
    """Real digits in neither split of `mnist_dir`: the reference classifier never trained on them, and they are
    not part of the real set they are compared with (so precision is not 1 by construction)."""
    x, y = data.load_arrays(split="train", data_dir=mnist_path)
    return x[50000 : 50000 + n, ..., 0], y[50000 : 50000 + n]


def run_cli(*args):
    """`python -m augment_tf.evaluate ARGS` in a subprocess: (exit status, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "augment_tf.evaluate", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


# --- Fréchet distance -------------------------------------------------------------------------


def test_frechet_distance_is_zero_for_identical_sets():
    f = np.random.default_rng(0).normal(size=(500, 8))
    assert metrics.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_matches_closed_form_for_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 3))
    shifted = rng.normal(size=(20000, 3)) + [1.0, 2.0, 0.0]  # identity covariances: ||mu||^2 = 5
    assert metrics.frechet_distance(a, shifted) == pytest.approx(5.0, rel=0.03)
    wide = rng.normal(scale=2.0, size=(20000, 3))  # covs I and 4I: 3 * (1 + 4 - 2 * 2) = 3
    assert metrics.frechet_distance(a, wide) == pytest.approx(3.0, rel=0.05)


def test_frechet_distance_is_finite_for_singular_covariances():
    f = np.random.default_rng(0).normal(size=(200, 6))
    f[:, :3] = 0.0  # dead ReLU units: zero variance
    d = metrics.frechet_distance(f, f + 0.5)
    assert np.isfinite(d) and isinstance(d, float)
    assert d == pytest.approx(6 * 0.25, rel=0.05)


# --- precision and recall ---------------------------------------------------------------------


def modes(centres, per_mode, seed):
    rng = np.random.default_rng(seed)
    return np.concatenate([c + rng.normal(scale=0.5, size=(per_mode, len(c))) for c in centres])


def test_precision_recall_identical_sets():
    f = np.random.default_rng(0).normal(size=(300, 5))
    assert metrics.precision_recall(f, f) == (1.0, 1.0)


def test_precision_recall_disjoint_sets():
    rng = np.random.default_rng(0)
    assert metrics.precision_recall(rng.normal(size=(200, 5)), rng.normal(size=(200, 5)) + 100.0) == (0.0, 0.0)


def test_precision_recall_half_the_modes():
    angles = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    centres = 20.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # 10 well separated modes
    real = modes(centres, 200, seed=0)
    fake = modes(centres[:5], 200, seed=1)  # only half the modes
    precision, recall = metrics.precision_recall(real, fake)
    assert precision >= 0.93
    assert recall == pytest.approx(0.5, abs=0.05)


def test_precision_recall_chunking_does_not_change_the_result(monkeypatch):
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(150, 4)), rng.normal(size=(120, 4)) + 0.7
    whole = metrics.precision_recall(real, fake, k=5)
    monkeypatch.setattr(metrics, "_CHUNK", 7)
    assert metrics.precision_recall(real, fake, k=5) == whole


def test_precision_recall_needs_more_than_k_samples():
    with pytest.raises(DataError, match="N >= 4"):
        metrics.precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)


# --- classifier, cache and evaluate_samples ---------------------------------------------------


@pytest.fixture(autouse=True)
def short_classifier_training(monkeypatch):
    """The tiny data slices here need far fewer steps than full MNIST's budget."""
    monkeypatch.setattr(reference, "STEPS", 150)


def test_classifier_has_features_layer():
    model = reference.build_classifier((28, 28, 1), 10)
    assert model.get_layer("features").output.shape[-1] == 128
    assert model.output_shape == (None, 10)
    features = reference.classifier_features(model, np.zeros((3, 28, 28), np.uint8))
    assert features.shape == (3, 128) and features.dtype == np.float64


@pytest.mark.slow
def test_evaluate_samples_trains_the_reference_once_then_loads_it(mnist_dir, mnist_path, tmp_path, monkeypatch,
                                                                   capsys):
    x, y = unseen_real(mnist_path)
    result = metrics.evaluate_samples(x, y, data_dir=mnist_dir, verbose=True)
    err = capsys.readouterr().err
    assert "training the reference classifier once" in err and re.search(r"^150/150 - \d+s", err, re.MULTILINE), err
    assert set(result) == KEYS
    assert result["n_samples"] == 300 and result["dataset"] == "mnist"
    assert result["label_fidelity"] > 0.85 and result["classifier_test_accuracy"] > 0.85
    assert 0.0 < result["fid"] < 50.0
    assert result["precision"] > 0.5 and result["recall"] > 0.5
    noise = np.random.default_rng(0).integers(0, 256, x.shape, dtype=np.uint8)  # the same scores on noise: far worse
    worse = metrics.evaluate_samples(noise, y, data_dir=mnist_dir)
    assert worse["fid"] > 5 * result["fid"] and worse["recall"] < 0.2 and worse["label_fidelity"] < 0.5, worse
    (cached,) = (tmp_path / "cache").glob("classifier-mnist-*.keras")
    mtime = cached.stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("retrained instead of loading the cached classifier")

    monkeypatch.setattr(reference, "train_classifier", no_training)
    again = metrics.evaluate_samples(x, y, data_dir=mnist_dir)
    assert again == result
    assert cached.stat().st_mtime_ns == mtime
    assert capsys.readouterr() == ("", "")  # a library call is quiet unless asked


def test_classical_augmentation_transforms_training_batches_only():
    """build_classifier(classical=True): random shifts, rotations and zooms in training, the plain CNN in inference."""
    model = reference.build_classifier((28, 28, 1), 10, classical=True)
    x = np.random.default_rng(0).uniform(0, 255, (4, 28, 28, 1)).astype("float32")
    inner = model.layers[-1]
    np.testing.assert_allclose(model(x, training=False), inner(x, training=False), rtol=1e-5, atol=1e-6)
    assert not np.allclose(model(x, training=True), inner(x, training=True), atol=1e-4)


def test_cache_key_follows_the_recipe_and_the_versions(monkeypatch):
    """A changed architecture, training code, step budget or Keras/TensorFlow version never loads an old file."""
    key = reference._recipe_key(None)
    assert reference._recipe_key(None) == key and reference._recipe_key(reference.STEPS + 1) != key
    other_architecture = lambda image_shape, num_classes: None  # noqa: E731
    assert reference._recipe_key(None, (other_architecture, reference.train_classifier)) != key
    monkeypatch.setattr(keras, "__version__", "0.0.0")
    assert reference._recipe_key(None) != key


def test_evaluate_refuses_a_test_split_that_is_the_training_split(random_digits_dir, tmp_path):
    x, y = real_test(random_digits_dir)
    np.savez(tmp_path / "one.npz", x=x, y=y)
    with pytest.raises(DataError, match="one.npz: the test split is the training split"):
        metrics.evaluate_samples(x, y, data_dir=str(tmp_path / "one.npz"))
    assert not list((tmp_path / "cache").glob("*.keras"))  # refused before any classifier trained


def test_evaluate_samples_rejects_cas_without_labels():
    with pytest.raises(AugmentError, match="labels"):
        metrics.evaluate_samples(np.zeros((10, 28, 28), np.uint8), cas=True)


@pytest.mark.slow
def test_cli_prints_one_json_object_with_cas(mnist_dir, mnist_path, shared_cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(reference.CACHE_ENV, str(shared_cache))
    x, y = unseen_real(mnist_path)  # CAS trains on them and is scored on the test split: no image in both
    np.savez(tmp_path / "samples.npz", x=x, y=y)
    cli.run(evaluate.main, [str(tmp_path / "samples.npz"), "--data-dir", str(mnist_dir), "--cas",
                            "--max-samples", "200"])
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    result = json.loads(out)
    assert set(result) == KEYS | {"cas"}
    assert result["n_samples"] == 200
    assert result["cas"] > 0.5  # 200 real images, 150 steps: well above chance (0.1)


def test_cli_unlabelled_samples_have_no_label_metrics(random_digits_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(reference, "STEPS", 20)  # the metrics' names are the point here, not their values
    x, _ = real_test(random_digits_dir, 50)
    np.savez(tmp_path / "samples.npz", x=x[..., None])  # (N, H, W, C) works too
    evaluate.main([str(tmp_path / "samples.npz"), "--data-dir", str(random_digits_dir)])
    assert set(json.loads(capsys.readouterr().out)) == KEYS - {"label_fidelity"}


def test_help_names_the_reference_recipes_step_budget(monkeypatch, capsys):
    """--help loads no TensorFlow, so it writes the budget out: it must be the one the classifiers train for."""
    monkeypatch.undo()  # reference.STEPS as the library defines it, not this module's short one
    assert evaluate.CLASSIFIER_STEPS == reference.STEPS
    with pytest.raises(SystemExit):
        evaluate.main(["--help"])
    assert f"(default {evaluate.CLASSIFIER_STEPS})" in " ".join(capsys.readouterr().out.split())


# --- bad input: one line on stderr, exit 2 ----------------------------------------------------


def write(tmp_path, **arrays):
    np.savez(tmp_path / "s.npz", **arrays)
    return tmp_path / "s.npz"


def write_text(tmp_path):
    (tmp_path / "s.npz").write_text("not a zip archive")
    return tmp_path / "s.npz"


BAD_INPUTS = {
    "missing file": (lambda p: p / "nope.npz", [], "no such file"),
    "not an npz": (write_text, [], "not an .npz archive"),
    "no x": (lambda p: write(p, images=np.zeros((5, 28, 28), np.uint8)), [], "missing array 'x'"),
    "x/y mismatch": (lambda p: write(p, x=np.zeros((5, 28, 28), np.uint8), y=np.zeros(4, np.int64)), [],
                     "5 images but 4 labels"),
    "cas without y": (lambda p: write(p, x=np.zeros((5, 28, 28), np.uint8)), ["--cas"], "needs labelled"),
    "float x": (lambda p: write(p, x=np.zeros((5, 28, 28), np.float32)), [], "uint8"),
    "wrong shape": (lambda p: write(p, x=np.zeros((5, 32, 32), np.uint8)), [], r"\(32, 32, 1\).*\(28, 28, 1\)"),
    "label range": (lambda p: write(p, x=np.zeros((5, 28, 28), np.uint8), y=np.array([0, 1, 2, 3, 10])), [],
                    r"0\.\.9"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_cli_bad_input_is_one_line_and_exit_2(case, random_digits_dir, tmp_path, capsys):
    make, extra, message = BAD_INPUTS[case]
    code, out, err = command_error(evaluate.main, [make(tmp_path), "--data-dir", random_digits_dir, *extra], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    assert re.search(message, err), err


def test_python_m_evaluate_is_one_line_and_exit_2_in_a_real_process(random_digits_dir, tmp_path):
    """The cases above run in-process through `cli.run`; the real `python -m augment_tf.evaluate` does the same."""
    make, extra, message = BAD_INPUTS["x/y mismatch"]
    code, out, err = run_cli(make(tmp_path), "--data-dir", random_digits_dir, *extra)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    assert re.search(message, err), err
