"""train_gan.py, run directories, resume, NaN stop and generate: short real runs on tiny data."""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

from augment_tf import augment, builders, data, generate, impute, reference, runs, train_gan, train_vae, training, training_options
from augment_tf.errors import AugmentError
from tests import conftest
from tests.conftest import RUN_CONFIG, command_error

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--steps", "3", *conftest.TINY]


def train(data_dir, out, *extra):
    return train_gan.main(["--conditional", "--data-dir", data_dir, "--out", str(out), *TINY, *extra])


def cli(*args, env=None):
    """Runs a command line as a user would; returns the finished process."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


def test_run_directory_layout(npz_data, tmp_path):
    run = tmp_path / "run"
    train(npz_data, run)
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "ConditionalGAN" and config["num_classes"] == 10 and config["image_shape"] == [28, 28, 1]
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == config["epochs"] and state["seconds"] > 0
    assert (run / "samples" / "epoch_001.png").exists()
    assert any(name.startswith("events") for name in os.listdir(run / "logs" / "train"))
    generator = keras.saving.load_model(run / "generator.keras")
    assert generator.output_shape == (None, 28, 28, 1)
    assert not [f for f in os.listdir(run) if ".tmp" in f]


def test_schedule_steps_regardless_of_data_size():
    assert training_options.schedule(60000, 128, epochs=3) == (3, 468)
    assert training_options.schedule(60000, 128, steps=1000) == (3, 334)
    assert training_options.schedule(100, 128, steps=50) == (1, 50)  # a budget: epochs of several passes
    assert training_options.schedule(100, 16, steps=3000) == (30, 100)


@pytest.mark.parametrize("augment", [  # the default run keeps the adaptive views, whose state resume must carry
    pytest.param(["--no-augment"], marks=pytest.mark.slow),
    pytest.param(["--augment", "--no-adaptive-augment"], marks=pytest.mark.slow), ["--augment"]])
def test_resume_continues_exactly_like_an_uninterrupted_run(npz_data, tmp_path, augment, monkeypatch):
    monkeypatch.setattr("augment_tf.models.gan.ADA_IMAGES", 64)  # the adaptive probability moves within the run
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    common = ["--conditional", "--data-dir", npz_data, "--batch-size", "16", "--latent-dim", "8", *augment]
    train_gan.main([*common, "--epochs", "2", "--out", str(straight)])
    train_gan.main([*common, "--epochs", "1", "--out", str(interrupted)])
    train_gan.main(["--out", str(interrupted), "--resume", "--epochs", "2"])
    assert runs.completed_epochs(interrupted) == 2
    assert (interrupted / "samples" / "epoch_002.png").exists()
    a = keras.saving.load_model(straight / "generator.keras").get_weights()
    b = keras.saving.load_model(interrupted / "generator.keras").get_weights()
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)
    if augment == ["--augment"]:  # adaptive by default
        probability = [float(runs.load_model(runs.path(r, runs.CHECKPOINT)).augment_probability)
                       for r in (straight, interrupted)]
        assert probability[0] > 0 and probability[1] == pytest.approx(probability[0])


def test_existing_run_needs_resume_and_resume_needs_a_checkpoint(npz_data, tmp_path):
    train(npz_data, tmp_path / "run")
    with pytest.raises(AugmentError, match="--resume"):
        train(npz_data, tmp_path / "run")
    with pytest.raises(AugmentError, match="no such run directory"):
        train_gan.main(["--out", str(tmp_path / "missing"), "--resume"])


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(npz_data, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(npz_data, run)
    checkpoint = (run / "checkpoint.keras").read_bytes()
    make_dataset = training.data.make_dataset
    poisoned = lambda *a, **k: make_dataset(*a, **k).map(lambda x, y: (x * np.nan, y))
    monkeypatch.setattr(training.data, "make_dataset", poisoned)
    with pytest.raises(AugmentError, match="diverged.*last good checkpoint"):
        train_gan.main(["--out", str(run), "--resume", "--steps", "200"])
    assert (run / "checkpoint.keras").read_bytes() == checkpoint
    assert runs.completed_epochs(run) == 1


def test_generate_is_reproducible_and_balanced(npz_data, tmp_path):
    run = tmp_path / "run"
    train(npz_data, run)
    out = [tmp_path / f"{i}.npz" for i in range(3)]
    for path, seed in zip(out, [0, 0, 1]):
        generate.main([str(run), "--n", "25", "--out", str(path), "--seed", str(seed), "--labels", "3,5,8"])
    a, b, c = (np.load(p) for p in out)
    assert a["x"].shape == (25, 28, 28) and a["x"].dtype == np.uint8 and a["y"].dtype == np.int64
    assert np.bincount(a["y"], minlength=10)[[3, 5, 8]].tolist() == [9, 8, 8]
    np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.array_equal(a["x"], c["x"])


def test_unconditional_run_generates_x_only(npz_data, tmp_path):
    run = tmp_path / "run"
    train_gan.main(["--data-dir", npz_data, "--out", str(run), *TINY])
    generate.main([str(run), "--n", "5", "--out", str(tmp_path / "s.npz"), "--grid", str(tmp_path / "s.png")])
    assert set(np.load(tmp_path / "s.npz")) == {"x"} and (tmp_path / "s.png").exists()
    with pytest.raises(AugmentError, match="conditional"):
        generate.main([str(run), "--n", "5", "--out", str(tmp_path / "t.npz"), "--labels", "1"])


CLI_ERRORS = [
    (["train_gan.py", "--data-dir", "/no/such/dir", "--out", "{tmp}/r"], "no such file or folder"),
    (["train_gan.py", "--epochs", "0", "--out", "{tmp}/r"], "--epochs must be a positive integer"),
    (["train_gan.py", "--resume"], "--resume needs --out"),
    (["train_gan.py", "--data-dir", "{tmp}/skipped.npz", "--no-augment", "--adaptive-augment", "--out", "{tmp}/r"],
     "--adaptive-augment adapts how often --augment's views are used, and --augment is off"),
    (["train_vae.py", "--conditional", "--data-dir", "{tmp}/skipped.npz", "--out", "{tmp}/r"],
     "skipped.npz: no samples of class 10, 11 (labels run 0..12)"),
    (["-m", "augment_tf.generate", "{tmp}", "--n", "5", "--out", "{tmp}/s.npz"], "config.json: missing"),
    (["-m", "augment_tf.generate", "{tmp}/bad", "--n", "5", "--out", "{tmp}/s.npz"], "generator.keras: not a .keras archive"),
]
MAINS = {"train_gan.py": train_gan.main, "train_vae.py": train_vae.main, "augment_tf.generate": generate.main}


def bad_inputs(args, tmp_path):
    """Writes the inputs CLI_ERRORS refuse into `tmp_path`; returns the case's command line with its paths filled in."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps(RUN_CONFIG))
    (bad / "generator.keras").write_bytes(b"not a zip")
    y = np.arange(40) % 10
    y[7] = 12  # one corrupt label: classes 10 and 11 would have no images
    np.savez(tmp_path / "skipped.npz", x=np.zeros((40, 28, 28), np.uint8), y=y)
    return [a.replace("{tmp}", str(tmp_path)) for a in args]


@pytest.mark.parametrize("args, message", CLI_ERRORS)
def test_cli_errors_are_one_line(args, message, tmp_path, capsys):
    command = bad_inputs(args, tmp_path)
    entry, *argv = command[1:] if command[0] == "-m" else command
    code, _, err = command_error(MAINS[entry], argv, capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "s.npz").exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize("case", [0, 4, 5], ids=["train_gan.py", "train_vae.py", "python -m augment_tf.generate"])
def test_each_entry_point_is_one_line_and_exit_2_in_a_real_process(case, tmp_path):
    """The cases above run in-process through `cli.run`; the real process of each entry point does the same."""
    args, message = CLI_ERRORS[case]
    result = cli(*bad_inputs(args, tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error:") and message in result.stderr
    assert not (tmp_path / "s.npz").exists() and not (tmp_path / "r").exists()


def started_model(data_dir, out, *flags):
    """(model, config) as `training.start` builds and records them for train_gan.py with these flags (no training)."""
    parser = argparse.ArgumentParser()
    training_options.add_arguments(parser, training_options.GAN_EPOCHS)
    for flag, options in train_gan.OPTIONS.items():
        parser.add_argument(flag, **options)
    args = parser.parse_args(["--conditional", "--data-dir", data_dir, "--out", str(out), "--latent-dim", "8", *flags])
    model, config, _ = training.start(args, "gan", "generator.keras", builders.build_gan, training_options.GAN_EPOCHS,
                                      options=training_options.option_names(train_gan.OPTIONS))
    return model, config


def started_config(data_dir, out, *flags):
    """The config `training.start` records for train_gan.py with these flags (no training)."""
    return started_model(data_dir, out, *flags)[1]


def test_defaults_on_100_images_train_thousands_of_steps_in_several_batches_per_pass(npz_100, tmp_path):
    config = started_config(npz_100, tmp_path / "run")
    assert config["batch_size"] == 16 and config["steps_requested"] == training_options.MIN_STEPS
    assert config["epochs_requested"] is None


def test_defaults_keep_full_mnist_as_it_was():
    assert training_options.default_batch_size(60000) == 128
    assert training_options.default_length(60000, 128, 20) == (20, None) and training_options.default_length(60000, 128, 30) == (30, None)
    assert training_options.default_batch_size(1024) == 128 and training_options.default_batch_size(400) == 50
    assert training_options.default_batch_size(10) == 10
    assert training_options.default_batch_size(264, replicas=2) == 32 and training_options.default_batch_size(400, replicas=3) == 48


def test_augment_is_on_by_default_on_small_data_only_and_the_flag_wins(npz_100, tmp_path):
    assert started_config(npz_100, tmp_path / "a")["augment"] is True
    assert started_config(npz_100, tmp_path / "b", "--no-augment")["augment"] is False
    per_class_200 = tmp_path / "2000.npz"  # the largest size measured with it on (benchmarks/README.md)
    np.savez(per_class_200, x=np.zeros((2000, 8, 8), np.uint8), y=np.arange(2000) % 10)
    assert started_config(str(per_class_200), tmp_path / "e")["augment"] is True
    big = tmp_path / "big.npz"
    np.savez(big, x=np.zeros((training_options.SMALL_DATA, 8, 8), np.uint8), y=np.arange(training_options.SMALL_DATA) % 10)
    assert started_config(str(big), tmp_path / "c")["augment"] is False
    assert started_config(str(big), tmp_path / "d", "--augment")["augment"] is True


def test_adaptive_augment_is_on_wherever_augment_is_and_the_flag_wins(npz_100, tmp_path):
    """The GAN's small-data default since the validation run of benchmarks/results/small_data/HISTORY.md
    ("Adaptive augmentation")."""
    assert started_config(npz_100, tmp_path / "a")["adaptive_augment"] is True
    assert started_config(npz_100, tmp_path / "b", "--no-adaptive-augment")["adaptive_augment"] is False
    assert started_config(npz_100, tmp_path / "c", "--no-augment")["adaptive_augment"] is False
    model, _ = started_model(npz_100, tmp_path / "d")
    assert model.adaptive_augment is True and model.augment is True


def test_explicit_length_and_batch_override_the_small_data_defaults(npz_100, tmp_path):
    config = started_config(npz_100, tmp_path / "a", "--epochs", "2", "--batch-size", "100")
    assert (config["epochs_requested"], config["steps_requested"], config["batch_size"]) == (2, None, 100)
    config = started_config(npz_100, tmp_path / "b", "--steps", "40")
    assert (config["epochs_requested"], config["steps_requested"], config["batch_size"]) == (None, 40, 16)


@pytest.mark.parametrize("script", [train_gan, train_vae])
def test_both_scripts_train_100_images_with_the_small_data_batch(script, npz_100, tmp_path):
    run = tmp_path / "run"
    script.main(["--conditional", "--data-dir", npz_100, "--out", str(run), "--steps", "6", "--latent-dim", "8"])
    config = json.loads((run / "config.json").read_text())
    assert (config["batch_size"], config["epochs"], config["steps_per_epoch"]) == (16, 1, 6)


@pytest.mark.parametrize("size", [pytest.param((30, 30), marks=pytest.mark.slow), (7, 5)])  # odd sizes: the edge
def test_any_image_size_trains_generates_augments_and_imputes(size, tmp_path):
    """30x30 (MNIST padded by a pixel) and odd sizes: every output keeps the user's own size."""
    rng, shape = np.random.default_rng(0), (40, *size)
    np.savez(tmp_path / "train.npz", x=rng.integers(0, 256, shape, dtype=np.uint8), y=np.arange(40) % 10)
    common = ["--conditional", "--data-dir", str(tmp_path / "train.npz"), "--steps", "2", "--batch-size", "8",
              "--latent-dim", "4", "--width", "4"]
    train_gan.main([*common, "--out", str(tmp_path / "gan")])
    generate.main([str(tmp_path / "gan"), "--n", "10", "--out", str(tmp_path / "s.npz")])
    assert np.load(tmp_path / "s.npz")["x"].shape == (10, *size)
    augment.main([str(tmp_path / "gan"), "--out", str(tmp_path / "aug"), "--format", "idx",
                  "--synthetic-per-class", "1", "--real", str(tmp_path / "train.npz"), "--no-estimate"])
    assert data.load_arrays(data_dir=tmp_path / "aug")[0].shape == (50, *size, 1)
    train_vae.main([*common, "--out", str(tmp_path / "vae")])
    mask = np.ones(shape, np.uint8)
    mask[:, : size[0] // 2] = 0
    np.savez(tmp_path / "in.npz", x=rng.integers(0, 256, shape, dtype=np.uint8), mask=mask, y=np.arange(40) % 10)
    impute.main([str(tmp_path / "vae"), "--in", str(tmp_path / "in.npz"), "--out", str(tmp_path / "out.npz"),
                 "--iterations", "2"])
    assert np.load(tmp_path / "out.npz")["x"].shape == shape


def test_sizes_that_cannot_work_are_one_clear_error(tmp_path):
    np.savez(tmp_path / "two.npz", x=np.zeros((40, 8, 8, 2), np.uint8), y=np.arange(40) % 10)
    with pytest.raises(AugmentError, match="2 channels; sample grids need 1"):
        started_config(str(tmp_path / "two.npz"), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(AugmentError, match="7x5 pixels are too small for the reference classifier"):
        reference.build_classifier((7, 5, 1), 10)
