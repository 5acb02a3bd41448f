"""Few labels plus unlabelled images: loading them, the semi-supervised classifier, and conditional runs that learn
from both (pseudo_labels), on tiny data."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from augment_tf import augment, data, metrics, pseudo_labels, reference, runs, train_gan, train_vae, training
from augment_tf.errors import AugmentError, DataError
from augment_tf.models import SemiSupervisedClassifier, networks
from augment_tf.models.random_views import random_erase
from tests.conftest import command_error

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--steps", "3", "--batch-size", "8", "--latent-dim", "4", "--width", "8"]
FEW = ["--classifier-steps", "3"]


def images(n, seed=0, size=12):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)


@pytest.fixture
def few_labels(tmp_path):
    """(labelled .npz: 12 images of 3 classes, unlabelled .npz: 20 images), 12x12."""
    labelled, unlabelled = tmp_path / "labelled.npz", tmp_path / "unlabelled.npz"
    np.savez(labelled, x=images(12), y=np.arange(12) % 3)
    np.savez(unlabelled, x=images(20, seed=1))
    return str(labelled), str(unlabelled)


def cli(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


# --- data ------------------------------------------------------------------------------------------------------


def test_load_images_from_npz_idx_file_and_folder(tmp_path):
    x = images(5)
    np.savez(tmp_path / "u.npz", x=x, y=np.arange(5))  # a y is ignored: these are unlabelled images
    (tmp_path / "idx").mkdir()
    data.write_idx(tmp_path / "idx" / "train-images-idx3-ubyte.gz", x)
    for path in (tmp_path / "u.npz", tmp_path / "idx" / "train-images-idx3-ubyte.gz", tmp_path / "idx"):
        got, labels = data.load_images(path)
        assert np.array_equal(got[..., 0], x) and np.all(labels == data.UNLABELED)
    with pytest.raises(DataError, match="no such file"):
        data.load_images(tmp_path / "missing.npz")
    with pytest.raises(DataError, match="no train-images-idx3-ubyte"):
        data.load_images(tmp_path)
    data.write_idx(tmp_path / "flat-idx1-ubyte", np.arange(5, dtype=np.uint8))
    with pytest.raises(DataError, match=r"expected images \(N, H, W\)"):
        data.load_images(tmp_path / "flat-idx1-ubyte")


def test_unlabelled_rows_are_split_off_and_ignored_by_num_classes():
    x, y = images(5), np.array([0, -1, 1, -1, 1])
    (x_l, y_l), x_u = data.split_labeled(x, y)
    assert np.array_equal(x_l, x[[0, 2, 4]]) and np.array_equal(y_l, [0, 1, 1]) and np.array_equal(x_u, x[[1, 3]])
    assert data.num_classes(y) == 2
    with pytest.raises(DataError, match="no labelled images"):
        data.num_classes(np.full(3, data.UNLABELED))
    with pytest.raises(DataError, match="no samples of class 1"):
        data.num_classes(np.array([0, 2, -1]))


# --- the classifier --------------------------------------------------------------------------------------------


def step_logs(threshold, unlabeled_weight=1.0):
    keras.utils.set_random_seed(0)
    model = SemiSupervisedClassifier((12, 12, 1), 3, threshold=threshold, unlabeled_weight=unlabeled_weight, seed=0)
    model.compile()
    before = [w.copy() for w in model.network.get_weights()]
    labelled = (images(6)[..., None].astype("float32"), np.arange(6) % 3)
    unlabelled = images(8, seed=1)[..., None].astype("float32")
    history = model.fit(tf.data.Dataset.from_tensors((labelled, unlabelled)), epochs=1, verbose=0)  # one step
    changed = any(not np.array_equal(a, b) for a, b in zip(before, model.network.get_weights()))
    return {k: v[-1] for k, v in history.history.items()}, changed


def test_unlabelled_images_train_only_where_the_prediction_is_confident():
    nothing, changed = step_logs(threshold=1.01)  # no prediction is that confident
    assert nothing["confident"] == 0 and nothing["unlabeled_loss"] == 0 and changed  # the labelled loss still trains
    everything, _ = step_logs(threshold=0.0)
    assert everything["confident"] == 1 and everything["unlabeled_loss"] > 0
    assert everything["labeled_loss"] == pytest.approx(nothing["labeled_loss"])  # same seed, same labelled view


def one_step(model):
    """`model` compiled and fitted for one step on 6 labelled and 8 unlabelled images; its weights before."""
    model.compile()
    start = [w.copy() for w in model.network.get_weights()]
    batch = ((images(6)[..., None].astype("float32"), np.arange(6) % 3), images(8, seed=1)[..., None].astype("float32"))
    model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0)
    return start


def test_predictor_is_the_moving_average_of_the_trained_network():
    keras.utils.set_random_seed(0)
    model = SemiSupervisedClassifier((12, 12, 1), 3, seed=0)
    assert model.predictor is model.ema_network and model.ema_network is not model.network
    assert all(np.array_equal(a, b) for a, b in zip(model.predictor.get_weights(), model.network.get_weights()))
    start = one_step(model)
    d = min(0.999, 2 / 11)  # the warm-up decay after one step
    for average, before, after in zip(model.predictor.get_weights(), start, model.network.get_weights()):
        np.testing.assert_allclose(average, d * before + (1 - d) * after, rtol=1e-5, atol=1e-7)
    assert any(not np.array_equal(a, b) for a, b in zip(start, model.network.get_weights()))
    x = images(4, seed=7)[..., None].astype("float32")  # calling the model runs the average, not the raw network
    np.testing.assert_array_equal(model(x), model.ema_network(x))
    assert np.abs(keras.ops.convert_to_numpy(model(x) - model.network(x))).max() > 0


def test_without_ema_decay_the_predictor_is_the_trained_network_itself():
    keras.utils.set_random_seed(0)
    model = SemiSupervisedClassifier((12, 12, 1), 3, ema_decay=None, seed=0)
    assert model.ema_network is None and model.predictor is model.network
    start = one_step(model)
    assert any(not np.array_equal(a, b) for a, b in zip(start, model.predictor.get_weights()))  # it trained
    x = images(4, seed=7)[..., None].astype("float32")
    np.testing.assert_array_equal(model(x), model.network(x))


def test_a_run_labels_with_and_exports_the_predictor_not_the_raw_network(tmp_path, monkeypatch):
    trained = []
    original = pseudo_labels.train_on
    monkeypatch.setattr(pseudo_labels, "train_on",
                        lambda *args, **kwargs: trained.append(original(*args, **kwargs)) or trained[-1])
    x, y = images(32)[..., None], np.where(np.arange(32) < 12, np.arange(32) % 3, data.UNLABELED)
    labels = pseudo_labels.label_run(str(tmp_path), x, y, 3, steps=3)
    [model] = trained
    exported = keras.saving.load_model(tmp_path / pseudo_labels.CLASSIFIER)
    assert all(type(layer).__module__.startswith("keras") for layer in exported.layers)  # plain Keras
    for ours, average in zip(exported.get_weights(), model.ema_network.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, average)
    assert any(not np.array_equal(a, b) for a, b in zip(exported.get_weights(), model.network.get_weights()))
    probabilities = keras.ops.convert_to_numpy(model.ema_network(x[12:].astype("float32")))
    stored = np.load(tmp_path / pseudo_labels.LABELS)
    np.testing.assert_array_equal(labels[12:], probabilities.argmax(axis=1))
    np.testing.assert_array_equal(stored["y"], labels)
    np.testing.assert_allclose(stored["confidence"][12:], probabilities.max(axis=1), rtol=1e-6)


def test_classifier_saves_loads_and_exports_plain_keras(tmp_path):
    model = SemiSupervisedClassifier((12, 12, 1), 3, threshold=0.9, seed=2)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.get_config() == model.get_config()
    x = images(4)[..., None].astype("float32")
    assert np.allclose(loaded(x), model(x))
    exported = networks.portable(model.predictor)  # what a run writes: plain Keras, the same predictions
    assert all(type(layer).__module__.startswith("keras") for layer in exported.layers)
    np.testing.assert_allclose(exported(x), model(x), rtol=1e-6)


def test_random_erase_sets_one_square_to_the_fill():
    batch = np.ones((64, 10, 10, 1), np.float32)
    erased = keras.ops.convert_to_numpy(random_erase(batch, keras.random.SeedGenerator(0), size=0.4))
    for image in erased[..., 0]:
        rows, cols = np.nonzero(image == 0)
        assert 0 < len(rows) <= 16  # a 4x4 square, cut where it crosses the border
        assert len(rows) == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)  # one filled rectangle
    assert np.all((erased == 0) | (erased == 1))


# --- runs ------------------------------------------------------------------------------------------------------


def test_conditional_run_labels_unlabelled_images_with_its_classifier(few_labels, tmp_path):
    labelled, unlabelled = few_labels
    run = tmp_path / "run"
    train_gan.main(["--conditional", "--data-dir", labelled, "--unlabeled", unlabelled, "--out", str(run), *TINY, *FEW])
    config = json.loads((run / "config.json").read_text())
    assert (config["n_labeled"], config["n_unlabeled"], config["n_train"], config["num_classes"]) == (12, 20, 32, 3)

    classifier = keras.saving.load_model(run / "classifier.keras")  # plain Keras: loads without augment_tf's classes
    predicted = classifier.predict(images(20, seed=1)[..., None].astype("float32"), verbose=0).argmax(axis=1)
    source = training.training_source(config)
    x, y = source.x, source.y
    assert len(x) == 32 and np.array_equal(y[:12], np.arange(12) % 3) and np.array_equal(y[12:], predicted)

    # the unlabelled images change what the generator learns: the same run without them ends elsewhere
    alone = tmp_path / "alone"
    train_gan.main(["--conditional", "--data-dir", labelled, "--out", str(alone), *TINY])
    assert json.loads((alone / "config.json").read_text())["n_unlabeled"] == 0
    assert not (alone / "classifier.keras").exists()
    with_unlabelled = keras.saving.load_model(run / "generator.keras").get_weights()
    without = keras.saving.load_model(alone / "generator.keras").get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(with_unlabelled, without))

    # resume trains on the stored labels; augment writes only labelled real images and says what trained the run
    train_gan.main(["--out", str(run), "--resume", "--epochs", "2"])
    assert runs.completed_epochs(run) == 2
    out = tmp_path / "augmented.npz"
    augment.main([str(run), "--out", str(out), "--synthetic-per-class", "2", "--data-dir", labelled, "--no-estimate"])
    written = np.load(out)
    assert len(written["y"]) == 12 + 6 and written["y"].min() >= 0
    summary = json.loads((tmp_path / "augmented.json").read_text())
    assert summary["run_trained_on"] == {"labeled": 12, "unlabeled": 20}
    # --filter scores samples with the run's own classifier (no reference is trained: the cache stays empty)
    idx = tmp_path / "idx"
    augment.main([str(run), "--out", str(idx), "--format", "idx", "--ratio", "0.5",
                  "--filter", "--threshold", "0.01", "--data-dir", labelled, "--no-estimate"])
    report = json.loads((idx / "summary.json").read_text())["filter"]
    assert report["generated"] >= 6 and not os.path.exists(os.environ[reference.CACHE_ENV])


def test_reference_classifier_trains_on_the_labelled_rows_only(tmp_path, monkeypatch):
    path = tmp_path / "mixed.npz"
    np.savez(path, x=images(24), y=np.where(np.arange(24) < 12, np.arange(24) % 3, data.UNLABELED))
    seen = {}

    def fake_train(x, y, num_classes, **kwargs):
        seen.update(n=len(x), labels=set(y.tolist()), num_classes=num_classes)
        return keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])

    monkeypatch.setattr(reference, "train_classifier", fake_train)
    reference.reference_classifier("mnist", str(path), verbose=False)
    assert seen == {"n": 12, "labels": {0, 1, 2}, "num_classes": 3}


@pytest.mark.slow  # 9 s; the default run keeps few labels on the GAN
def test_vae_takes_unlabelled_rows_marked_minus_one_in_its_data(tmp_path):
    path = tmp_path / "mixed.npz"
    y = np.arange(24) % 3
    y[12:] = data.UNLABELED
    np.savez(path, x=images(24), y=y)
    run = tmp_path / "vae"
    train_vae.main(["--conditional", "--data-dir", str(path), "--out", str(run), *TINY, *FEW])
    config = json.loads((run / "config.json").read_text())
    assert (config["n_labeled"], config["n_unlabeled"]) == (12, 12)
    assert (run / "classifier.keras").exists() and (run / "sampler.keras").exists()
    # an unconditional run ignores labels: it needs no classifier
    plain = tmp_path / "plain"
    train_vae.main(["--data-dir", str(path), "--out", str(plain), *TINY])
    assert not (plain / "classifier.keras").exists()


def test_stored_labels_must_match_the_data(few_labels, tmp_path):
    labelled, unlabelled = few_labels
    run = tmp_path / "run"
    train_gan.main(["--conditional", "--data-dir", labelled, "--unlabeled", unlabelled, "--out", str(run), *TINY, *FEW])
    y = training.training_source(json.loads((run / "config.json").read_text())).y
    y_now = np.concatenate([np.arange(12) % 3, np.full(20, data.UNLABELED)])
    y_now[0] = 1  # a label changed since the run started
    with pytest.raises(AugmentError, match="other labels"):
        pseudo_labels.read_labels(str(run), y_now)
    assert np.array_equal(pseudo_labels.read_labels(str(run), np.where(np.arange(32) < 12, y, -1)), y)


@pytest.mark.parametrize("case, expected", [
    ("unconditional", "--unlabeled is for --conditional runs"),
    ("shape", "unlabelled images are 10x10x1 (HxWxC) but the labelled ones 12x12x1"),
    ("empty class", "no samples of class 1"),
    ("out of range", "labels must be >= 0 (or -1 for an unlabelled image), found -2"),
    ("none labelled", "no labelled images"),
    ("steps without unlabelled", "--classifier-steps applies to --conditional runs with unlabelled images only"),
    ("too small", "too small for the classifier that labels unlabelled images"),
])
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(tmp_path, case, expected, capsys):
    code, _, err = command_error(train_gan.main, bad_input(tmp_path, case), capsys)
    assert code == 2, err
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_python_m_train_gan_is_one_line_and_exit_2_in_a_real_process(tmp_path):
    """The cases above run in-process through `cli.run`; the real `python -m augment_tf.train_gan` does the same."""
    result = cli("-m", "augment_tf.train_gan", *bad_input(tmp_path, "shape"))
    assert result.returncode == 2, result.stderr
    expected = "unlabelled images are 10x10x1 (HxWxC) but the labelled ones 12x12x1"
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "run").exists()


def bad_input(tmp_path, case):
    """Writes the labelled and unlabelled images of a case above into `tmp_path`; returns train_gan's arguments."""
    labelled, unlabelled = tmp_path / "labelled.npz", tmp_path / "unlabelled.npz"
    y, x_unlabelled, size, flags = np.arange(12) % 3, images(20, seed=1), 12, ["--conditional"]
    if case == "unconditional":
        flags = []
    elif case == "shape":
        x_unlabelled = images(20, seed=1, size=10)
    elif case == "empty class":
        y = np.where(y == 1, 2, y)
    elif case == "out of range":
        y[3] = -2
    elif case == "none labelled":
        y = np.full(12, data.UNLABELED)
    elif case == "steps without unlabelled":
        flags = ["--conditional", "--classifier-steps", "5"]
    elif case == "too small":
        size, x_unlabelled = 8, images(20, seed=1, size=8)
    np.savez(labelled, x=images(12, size=size), y=y)
    np.savez(unlabelled, x=x_unlabelled)
    run = tmp_path / "run"
    unlabelled_flag = [] if case == "steps without unlabelled" else ["--unlabeled", str(unlabelled)]
    return [*flags, "--data-dir", str(labelled), *unlabelled_flag, "--out", str(run), "--steps", "2"]


def test_evaluate_scores_accuracy_on_the_labelled_test_images_only(tmp_path):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "train.npz", x=images(30), y=np.arange(30) % 3)
    y_test = np.where(np.arange(10) < 6, np.arange(10) % 3, data.UNLABELED)
    np.savez(tmp_path / "test.npz", x=images(10, seed=4), y=y_test)
    samples = images(8, seed=5)
    result = metrics.evaluate_samples(samples, rng.integers(0, 3, 8), data_dir=str(tmp_path), classifier_steps=3,
                                      verbose=False)
    classifier = reference.reference_classifier("mnist", str(tmp_path), steps=3, verbose=False)
    predicted = classifier.predict(images(10, seed=4)[:6, ..., None].astype("float32"), verbose=0).argmax(axis=1)
    assert result["classifier_test_accuracy"] == pytest.approx(np.mean(predicted == y_test[:6]))
    np.savez(tmp_path / "test.npz", x=images(10, seed=4), y=np.full(10, data.UNLABELED))
    with pytest.raises(DataError, match="the test split has no labelled images"):
        metrics.evaluate_samples(samples, None, data_dir=str(tmp_path), classifier_steps=3, verbose=False)
