"""The sampling temperature (issue 48): the latent noise drawn as N(0, T^2 I) by every command that draws, each
family's default from `defaults.TEMPERATURE`, and the temperature recorded in what the commands write."""

import json

import numpy as np
import pytest

from augment_tf import augment, condense, defaults, generate, mixing, runs, sampling
from augment_tf.errors import AugmentError

CONFIG = {"model": "ConditionalGAN", "latent_dim": 4}


def test_noise_is_the_standard_noise_scaled_and_one_keeps_the_stream():
    one, warm = (sampling.noise(np.random.default_rng(3), 5, CONFIG, t) for t in (1.0, 1.5))
    assert one.dtype == warm.dtype == np.float32 and one.shape == (5, 4)
    np.testing.assert_array_equal(one, np.random.default_rng(3).standard_normal((5, 4)).astype("float32"))
    np.testing.assert_allclose(warm, 1.5 * one, rtol=1e-6)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "1.2", None])
def test_a_temperature_is_a_finite_number_zero_or_above(bad):
    with pytest.raises(AugmentError, match="must be a finite number, 0 or above"):
        sampling.check_temperature(bad, "--temperature")


def test_each_family_draws_at_its_default(monkeypatch):
    monkeypatch.setattr(defaults, "TEMPERATURE", {"GAN": 1.3, "VAE": 0.9})
    assert [sampling.default_temperature({"model": m}) for m in ("GAN", "R1ConditionalGAN", "ConditionalVAE")] == [
        1.3, 1.3, 0.9]


def test_generate_draws_at_the_runs_default_unless_told_and_says_which(gan_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(defaults, "TEMPERATURE", {"GAN": 1.4, "VAE": 1.0})
    for name, flags in (("default", []), ("told", ["--temperature", "1.4"]), ("one", ["--temperature", "1"])):
        generate.main([str(gan_run), "--n", "20", "--out", str(tmp_path / f"{name}.npz"), *flags])
    said = capsys.readouterr().out
    assert said.count("(temperature 1.4)") == 2 and "(temperature 1)" in said
    x = {name: np.load(tmp_path / f"{name}.npz")["x"] for name in ("default", "told", "one")}
    np.testing.assert_array_equal(x["default"], x["told"])
    assert not np.array_equal(x["default"], x["one"])


def test_augment_and_condense_record_the_temperature_they_drew_at(three_class_gan_run, three_classes, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setattr(defaults, "TEMPERATURE", {"GAN": 1.2, "VAE": 1.0})
    augment.main([three_class_gan_run, "--real", three_classes, "--synthetic-per-class", "2", "--no-estimate",
                  "--out", str(tmp_path / "a.npz")])
    augment.main([three_class_gan_run, "--real", three_classes, "--synthetic-per-class", "2", "--no-estimate",
                  "--temperature", "0.8", "--out", str(tmp_path / "b.npz")])
    assert [json.loads((tmp_path / f"{n}.json").read_text())["temperature"] for n in "ab"] == [1.2, 0.8]
    condense.main([three_class_gan_run, "--per-class", "1", "--steps", "0", "--real", three_classes,
                   "--temperature", "1.5", "--out", str(tmp_path / "small.npz")])
    assert json.loads((tmp_path / "small.json").read_text())["temperature"] == 1.5


def test_mixed_batches_draw_their_samples_at_the_temperature(three_class_gan_run, three_classes):
    sampler, config = runs.load_sampler(three_class_gan_run)
    with np.load(three_classes) as npz:
        x, y = npz["x"], npz["y"]
    first = {t: next(iter(mixing.mixed_dataset(sampler, config, x, y, batch_size=16, seed=1, temperature=t)))
             for t in (0.0, 1.0)}
    synthetic = slice(16 - int(round(mixing.SYNTHETIC_FRACTION * 16)), 16)
    assert not np.array_equal(first[0.0][0][synthetic], first[1.0][0][synthetic])
    with pytest.raises(AugmentError, match="temperature"):
        mixing.mixed_dataset(sampler, config, x, y, temperature=-1)
