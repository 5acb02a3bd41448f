"""--init-from: a new run that starts from another run's networks and fine-tunes them (tiny runs)."""

import argparse
import json
import os

import keras
import numpy as np
import pytest

from augment_tf import builders, generate, runs, train_gan, train_vae, training, training_options
from augment_tf.errors import AugmentError, DataError
from augment_tf.models import ConditionalGAN, ConditionalVAE
from augment_tf.models.base import transfer_weights
from tests.conftest import RUN_CONFIG, command_error, digits

SMALL = ["--steps", "3", "--batch-size", "16"]


def paired_weights(source, target):
    """(source value, target value, is a label embedding) for every network weight, in build order."""
    for old, new in zip(source.weights, target.weights, strict=True):
        yield keras.ops.convert_to_numpy(old), keras.ops.convert_to_numpy(new), "embeddings" in new.name


def test_transfer_copies_the_networks_and_new_classes_start_at_the_mean_embedding():
    source = ConditionalGAN(num_classes=3, latent_dim=8, width=8, seed=0)
    target = ConditionalGAN(num_classes=5, latent_dim=8, width=8, seed=1)
    target.compile()
    noise_state = keras.ops.convert_to_numpy(target.seed_generator.state).copy()
    transfer_weights(source, target)
    embeddings = 0
    for network in ("generator", "ema_generator", "discriminator"):
        for old, new, is_embedding in paired_weights(getattr(source, network), getattr(target, network)):
            if is_embedding:
                embeddings += 1
                np.testing.assert_array_equal(new[:3], old)
                np.testing.assert_allclose(new[3:], np.repeat(old.mean(axis=0, keepdims=True), 2, axis=0), rtol=1e-6)
            else:
                np.testing.assert_array_equal(new, old)
    assert embeddings == 3  # generator, averaged generator, discriminator projection
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(target.seed_generator.state), noise_state)


def test_transfer_keeps_the_targets_settings_and_refuses_other_sizes():
    source = ConditionalVAE(num_classes=2, latent_dim=4, width=8, beta=1.0, seed=0)
    target = ConditionalVAE(num_classes=2, latent_dim=4, width=8, beta=0.5, seed=1)
    transfer_weights(source, target)
    assert float(target.beta) == 0.5
    for network in ("encoder", "decoder", "prior"):
        for old, new, _ in paired_weights(getattr(source, network), getattr(target, network)):
            np.testing.assert_array_equal(new, old)
    with pytest.raises(ValueError, match="weight"):
        transfer_weights(source, ConditionalVAE(num_classes=2, latent_dim=4, width=16))


def start(data_dir, out, *flags):
    """training.start for train_gan.py --conditional with these flags: (model, config); nothing trains."""
    parser = argparse.ArgumentParser()
    training_options.add_arguments(parser, training_options.GAN_EPOCHS)
    args = parser.parse_args(["--conditional", "--data-dir", data_dir, "--out", str(out), *SMALL, *flags])
    model, config, _ = training.start(args, "gan", "generator.keras", builders.build_gan, training_options.GAN_EPOCHS)
    return model, config


def test_a_run_on_new_classes_starts_from_the_source_and_records_it(source_run, tmp_path):
    new_classes = digits(tmp_path / "new.npz", [3, 4], seed=1)  # classes 0-2 have no images here
    model, config = start(new_classes, tmp_path / "fine", "--init-from", source_run)
    assert (config["num_classes"], config["latent_dim"], config["width"]) == (5, 8, 8)  # sizes from the source
    assert config["init_from"] == {"run_dir": source_run, "model": "ConditionalGAN", "num_classes": 3, "epochs": 1}
    source = runs.load_model(runs.path(source_run, runs.CHECKPOINT))
    for old, new, is_embedding in paired_weights(source.ema_generator, model.ema_generator):
        np.testing.assert_array_equal(new[:3] if is_embedding else new, old)
    # without --init-from the same data is refused: labels 3 and 4 alone leave classes 0-2 empty
    with pytest.raises(DataError, match="no samples of class 0, 1, 2"):
        start(new_classes, tmp_path / "scratch")


def label_embedding(sampler):
    """The label embedding rows of a run's exported generator."""
    (embedding,) = [w for w in sampler.weights if "label_embedding" in w.path]
    return keras.ops.convert_to_numpy(embedding)


def test_a_fine_tuned_run_trains_and_samples_every_class(source_run, tmp_path):
    run = tmp_path / "fine"
    train_gan.main(["--conditional", "--data-dir", digits(tmp_path / "new.npz", [3, 4], seed=1), "--out", str(run),
                    "--init-from", source_run, *SMALL])
    assert json.loads((run / "config.json").read_text())["init_from"]["run_dir"] == source_run
    sampler, config = runs.load_sampler(str(run))
    source_rows, rows = label_embedding(runs.load_sampler(source_run)[0]), label_embedding(sampler)
    assert config["num_classes"] == 5 and rows.shape == (5, source_rows.shape[1])
    # the new classes trained away from where they started, the mean of the source's rows
    assert np.abs(rows[3:] - source_rows.mean(axis=0)).max(axis=1).min() > 1e-5
    # one latent vector drawn as each class: five different images, the new classes' apart from each other too
    z = np.repeat(np.random.default_rng(0).standard_normal((1, config["latent_dim"])), 5, axis=0).astype("float32")
    drawn = sampler.predict([z, np.arange(5, dtype=np.int32)], verbose=0)
    for a in range(5):
        for b in range(a):
            assert np.abs(drawn[a] - drawn[b]).max() > 1e-6, (a, b)
    generate.main([str(run), "--n", "10", "--out", str(tmp_path / "s.npz"), "--labels", "0,4"])
    samples = np.load(tmp_path / "s.npz")
    assert sorted(set(samples["y"])) == [0, 4] and samples["x"].shape == (10, 28, 28)


def convolution_kernels(run):
    """The discriminator's convolution kernels in a run's checkpoint, and the loaded model."""
    model = runs.load_model(runs.path(run, runs.CHECKPOINT))
    convolutions = [layer for layer in model.discriminator.layers if isinstance(layer, keras.layers.Conv2D)]
    return [keras.ops.convert_to_numpy(layer.kernel) for layer in convolutions], model


@pytest.mark.slow  # three runs, 11 s; the default run keeps a fine-tuned run
def test_freeze_d_keeps_the_first_discriminator_convolutions_through_fine_tuning_and_resume(source_run, tmp_path):
    run = tmp_path / "fine"
    common = ["--conditional", "--data-dir", digits(tmp_path / "new.npz", [3, 4], seed=1), "--out", str(run)]
    train_gan.main([*common, "--init-from", source_run, "--freeze-d", "1", "--epochs", "1", "--batch-size", "16"])
    (source_first, source_second), _ = convolution_kernels(source_run)
    (first, second), model = convolution_kernels(run)
    np.testing.assert_array_equal(first, source_first)  # frozen: as the source trained it
    assert np.abs(second - source_second).max() > 0  # the rest fine-tunes
    assert model.freeze_d == 1 and json.loads((run / "config.json").read_text())["freeze_d"] == 1
    train_gan.main(["--out", str(run), "--resume", "--epochs", "2"])  # the checkpoint keeps it frozen
    (first_after, second_after), _ = convolution_kernels(run)
    np.testing.assert_array_equal(first_after, source_first)
    assert np.abs(second_after - second).max() > 0


def test_freeze_d_without_init_from_is_one_line_and_writes_nothing(tmp_path, capsys):
    code, _, err = command_error(train_gan.main, ["--conditional", "--data-dir", digits(tmp_path / "d.npz", [0, 1]),
                                                  "--out", tmp_path / "r", "--freeze-d", "1"], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "--freeze-d keeps layers as an --init-from run trained them" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "origin, size, flags, error, message",
    [
        ("missing", 28, [], AugmentError, "no such run directory"),
        ("no_checkpoint", 28, [], AugmentError, "no checkpoint yet"),
        ("source", 28, ["--width", "16"], AugmentError, "--width 16: .* has 8, and --init-from keeps its networks"),
        ("source", 32, [], DataError, "images are 32x32x1 .* trained on 28x28x1"),
    ],
)
def test_bad_sources_are_refused_before_anything_is_written(source_run, tmp_path, origin, size, flags, error, message):
    (tmp_path / "no_checkpoint").mkdir()
    (tmp_path / "no_checkpoint" / "config.json").write_text(json.dumps(RUN_CONFIG))
    origin = source_run if origin == "source" else str(tmp_path / origin)
    with pytest.raises(error, match=message):
        start(digits(tmp_path / "d.npz", [0, 1], size=size), tmp_path / "r", "--init-from", origin, *flags)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "script, flags, message",
    [
        (train_vae, ["--conditional"], "is a ConditionalGAN run; this run trains a ConditionalVAE"),
        (train_gan, [], "is a ConditionalGAN run; this run trains a GAN"),
        (train_gan, ["--conditional", "--resume"], "--init-from starts a new run"),
    ],
    ids=["train_vae.py", "train_gan.py", "train_gan.py --resume"],
)
def test_cli_refuses_another_kind_of_run_in_one_line(source_run, tmp_path, script, flags, message, capsys):
    data_dir = digits(tmp_path / "d.npz", [0, 1])
    code, _, err = command_error(script.main, [*flags, "--data-dir", data_dir, "--out", tmp_path / "r",
                                               "--init-from", source_run], capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "r").exists()


def test_a_damaged_source_checkpoint_is_one_clear_error(source_run, tmp_path):
    damaged = tmp_path / "damaged"
    os.makedirs(damaged)
    for name in (runs.CONFIG, runs.STATE):
        with open(runs.path(source_run, name), "rb") as f:
            (damaged / name).write_bytes(f.read())
    (damaged / runs.CHECKPOINT).write_bytes(b"not a zip")
    with pytest.raises(AugmentError, match="checkpoint.keras: not a .keras archive"):
        start(digits(tmp_path / "d.npz", [0, 1]), tmp_path / "r", "--init-from", str(damaged))
    assert not (tmp_path / "r").exists()
