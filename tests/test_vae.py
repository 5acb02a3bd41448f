"""VAE, ConditionalVAE, train_vae.py and impute: losses, gradients, round trips, CLIs on tiny and real data."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from augment_tf import cli, data, evaluate, generate, impute, masks, reference, runs, train_vae
from augment_tf.models import VAE, ConditionalVAE, KLAnnealing
from tests.conftest import RUN_CONFIG

ROOT = Path(__file__).parents[1]
SHAPE = (28, 28, 1)
LOSSES = {"loss", "reconstruction_loss", "kl_loss"}


def tiny(cls=ConditionalVAE, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    kwargs = {"latent_dim": 4, "width": 8, **kwargs}
    if cls is ConditionalVAE:
        kwargs.setdefault("num_classes", 10)
    model = cls(image_shape=SHAPE, seed=seed, **kwargs)
    model.compile()
    return model


def batches(n=2, batch_size=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n * batch_size, *SHAPE)).astype("float32")
    y = rng.integers(0, 10, n * batch_size)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size, drop_remainder=True)


def labels_for(model, n):
    return np.arange(n) % 10 if model.num_classes else None


@pytest.mark.parametrize("cls", [VAE, ConditionalVAE])
def test_train_and_test_steps_update_and_report_the_three_losses(cls):
    model = tiny(cls)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(batches(), validation_data=batches(seed=1), epochs=1, verbose=0).history
    assert set(history) == LOSSES | {f"val_{k}" for k in LOSSES}
    assert all(np.isfinite(v[0]) for v in history.values())
    assert history["kl_loss"][0] > 0 and history["reconstruction_loss"][0] > 100  # summed over 784 pixels
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    result = model.evaluate(batches(n=1), verbose=0, return_dict=True)
    np.testing.assert_allclose(result["loss"], result["reconstruction_loss"] + result["kl_loss"], rtol=1e-5)


def test_beta_zero_keeps_kl_out_of_the_gradient():
    """One step with beta=0 moves every weight exactly as the reconstruction loss alone does."""

    def step(beta, kl_gradient):
        model = tiny(VAE, beta=beta)
        if not kl_gradient:
            terms = model.elbo_terms
            model.elbo_terms = lambda *a, **k: (lambda r, kl: (r, ops.stop_gradient(kl)))(*terms(*a, **k))
        model.fit(batches(n=1), epochs=1, verbose=0)
        return model.get_weights()

    with_kl = step(0.0, True)
    for a, b in zip(with_kl, step(0.0, False)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(with_kl, step(1.0, True)))  # the KL term does matter


@pytest.mark.parametrize("cls", [VAE, ConditionalVAE])
def test_encode_decode_sample_reconstruct_shapes_and_range(cls):
    model = tiny(cls)
    x, labels = np.random.default_rng(0).uniform(0, 1, (5, *SHAPE)), labels_for(model, 5)
    mean, log_var = model.encode(x, labels)
    assert mean.shape == log_var.shape == (5, 4)
    for images in (model.decode(mean, labels), model.sample(5, labels, seed=1), model.reconstruct(x, labels)):
        assert images.shape == (5, *SHAPE) and images.min() >= 0 and images.max() <= 1
    np.testing.assert_array_equal(model.sample(5, labels, seed=1), model.sample(5, labels, seed=1))
    bound, iw_bound = model.log_likelihood_bound(x, labels), model.log_likelihood_bound(x, labels, samples=4)
    assert bound.shape == iw_bound.shape == (5,) and np.all(bound < 0) and np.all(np.isfinite(iw_bound))


def test_conditional_vae_needs_labels():
    model = tiny()
    with pytest.raises(ValueError, match="labels"):
        model.sample(3)
    with pytest.raises(ValueError, match="images only"):
        model.fit(batches().map(lambda x, y: x), epochs=1, verbose=0)


def test_full_model_round_trip_continues_identically(tmp_path):
    model = tiny(beta=0.5)
    model.fit(batches(), epochs=1, verbose=0)
    model.save(tmp_path / "vae.keras")
    loaded = keras.saving.load_model(tmp_path / "vae.keras")
    assert type(loaded) is ConditionalVAE and loaded.get_config() == model.get_config()
    for a, b in zip(model.variables + model.optimizer.variables, loaded.variables + loaded.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    model.fit(batches(seed=1), epochs=1, verbose=0)
    loaded.fit(batches(seed=1), epochs=1, verbose=0)
    for a, b in zip(model.variables, loaded.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


def test_decoder_and_encoder_save_alone_and_load_with_plain_keras(tmp_path):
    model = tiny()
    model.fit(batches(), epochs=1, verbose=0)
    for name, network in model.export_models().items():
        network.save(tmp_path / name)
    decoder, encoder = (keras.saving.load_model(tmp_path / n) for n in ("decoder.keras", "encoder.keras"))
    # Plain Keras layers only: the files load where augment_tf is not installed.
    assert not [layer for m in (decoder, encoder) for layer in m.layers if "augment_tf" in type(layer).__module__]
    z, labels = model.latent(4, seed=2), np.arange(4)
    np.testing.assert_allclose(decoder.predict([z, labels], verbose=0), model.generate(z, labels), atol=1e-6)
    x = model.generate(z, labels)
    for a, b in zip(encoder.predict([x, labels], verbose=0), model.encode(x, labels)):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("cls", [VAE, ConditionalVAE])
def test_fitted_prior_matches_the_aggregate_posterior_and_exports(cls, tmp_path):
    model = tiny(cls)
    model.fit(batches(), epochs=1, verbose=0)
    x = np.random.default_rng(1).uniform(0, 1, (400, *SHAPE)).astype("float32")
    labels = np.zeros(400, np.int64) if model.num_classes else None
    z = model.latent(4000, seed=2)
    before = model.generate(z[:4], labels_for(model, 4))
    model.fit_latent_prior(x, labels)
    mean, log_var = model.encode(x, labels)
    drawn = model.prior.predict(z if labels is None else [z, np.zeros(4000, np.int32)], verbose=0)
    np.testing.assert_allclose(drawn.mean(axis=0), mean.mean(axis=0), atol=0.1)
    expected_cov = np.cov(mean, rowvar=False) + np.diag(np.exp(log_var).mean(axis=0))
    np.testing.assert_allclose(np.cov(drawn, rowvar=False), expected_cov, atol=0.1)
    if model.num_classes:  # classes without data keep N(0, I)
        other = model.prior.predict([z, np.ones(4000, np.int32)], verbose=0)
        np.testing.assert_allclose(other, z, atol=1e-6)
    assert not np.allclose(before, model.generate(z[:4], labels_for(model, 4)))
    model.export_models()["sampler.keras"].save(tmp_path / "sampler.keras")
    sampler = keras.saving.load_model(tmp_path / "sampler.keras")
    inputs = z[:4] if labels is None else [z[:4], labels_for(model, 4)]
    np.testing.assert_allclose(sampler.predict(inputs, verbose=0), model.generate(z[:4], labels_for(model, 4)), atol=1e-6)


def test_kl_annealing_ramps_beta_from_zero_to_the_target():
    model = tiny(VAE, beta=2.0)
    model.fit(batches(n=1), epochs=2, callbacks=[KLAnnealing(steps=4)], verbose=0)  # steps 0, 1 of 4
    assert float(model.beta.numpy()) == pytest.approx(0.5)
    model.fit(batches(n=1), epochs=4, callbacks=[KLAnnealing(steps=4)], verbose=0)
    assert float(model.beta.numpy()) == pytest.approx(2.0)


# --- train_vae.py and impute on tiny random data ---------------------------------------------------


TINY = ["--batch-size", "16", "--latent-dim", "4", "--width", "8"]


@pytest.mark.slow  # interrupt and resume, twice the training: the default run's resume checks are test_training's
def test_resume_with_kl_annealing_continues_exactly(npz_data, tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    common = ["--conditional", "--data-dir", npz_data, "--kl-anneal-epochs", "2", *TINY]
    train_vae.main([*common, "--epochs", "2", "--out", str(straight)])
    train_vae.main([*common, "--epochs", "1", "--out", str(interrupted)])
    train_vae.main(["--out", str(interrupted), "--resume", "--epochs", "2"])
    a = keras.saving.load_model(straight / "checkpoint.keras")
    b = keras.saving.load_model(interrupted / "checkpoint.keras")
    assert float(a.beta.numpy()) == float(b.beta.numpy()) == pytest.approx(0.875)  # last step: 7 of 8
    for x, y in zip(a.variables, b.variables):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", [(10, 28, 28), (10, 28, 28, 1)])
@pytest.mark.parametrize("kind", ["random", "block", "half"])
def test_impute_keeps_observed_pixels_bit_identical(vae_run, tmp_path, kind, layout):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, layout, dtype=np.uint8)
    mask = {"random": lambda: masks.random_pixel_mask(layout, 0.5, rng),
            "block": lambda: masks.block_mask(layout, 12, rng),
            "half": lambda: masks.half_mask(layout, "bottom")}[kind]()
    assert mask.shape == layout and 0 < mask.mean() < 1
    np.savez(tmp_path / "in.npz", x=x, mask=mask)
    impute.main([str(vae_run), "--in", str(tmp_path / "in.npz"), "--out", str(tmp_path / "out.npz"), "--iterations", "3"])
    out = np.load(tmp_path / "out.npz")
    assert out["x"].dtype == np.uint8 and out["x"].shape == layout and set(out) == {"x", "mask"}
    np.testing.assert_array_equal(out["mask"], mask)
    np.testing.assert_array_equal(out["x"][mask == 1], x[mask == 1])
    assert not np.array_equal(out["x"][mask == 0], x[mask == 0])


def test_impute_falls_back_to_the_checkpoint(vae_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(vae_run, run)
    (run / "decoder.keras").unlink()
    (run / "encoder.keras").unlink()
    x = np.zeros((3, 28, 28), np.uint8)
    np.savez(tmp_path / "in.npz", x=x, mask=masks.half_mask(x.shape, "top"))
    impute.main([str(run), "--in", str(tmp_path / "in.npz"), "--out", str(tmp_path / "out.npz"), "--iterations", "2"])
    assert np.load(tmp_path / "out.npz")["x"].shape == x.shape


def test_half_masks_cover_each_side():
    shape = (2, 28, 28)
    for side, missing in {"bottom": np.s_[:, 14:], "top": np.s_[:, :14], "left": np.s_[:, :, :14],
                          "right": np.s_[:, :, 14:]}.items():
        mask = masks.half_mask(shape, side)
        assert (mask[missing] == 0).all() and mask.sum() == 2 * 28 * 14


X, ONES = np.zeros((2, 28, 28), np.uint8), np.ones((2, 28, 28))


@pytest.mark.parametrize(
    "arrays, run_kind, message",
    [
        ({"x": X, "mask": np.ones((2, 28, 27))}, "vae", "mask has shape"),
        ({"x": X, "mask": np.full((2, 28, 28), 0.5)}, "vae", "only 0 (missing) and 1"),
        ({"x": X}, "vae", "missing array 'mask'"),
        ({"mask": ONES}, "vae", "missing array 'x'"),
        ({"x": X, "mask": ONES}, "gan", "needs a VAE run"),
        ({"x": X, "mask": ONES}, "conditional", "needs the labels"),
    ],
)
def test_impute_errors_are_one_line(vae_run, tmp_path, capsys, arrays, run_kind, message):
    run, config = tmp_path / run_kind, json.loads((vae_run / "config.json").read_text())
    if run_kind == "vae":
        run = vae_run
    else:
        run.mkdir()
        fake = RUN_CONFIG if run_kind == "gan" else {**config, "num_classes": 10, "model": "ConditionalVAE"}
        (run / "config.json").write_text(json.dumps(fake))
    np.savez(tmp_path / "in.npz", **arrays)
    with pytest.raises(SystemExit) as exit_info:
        cli.run(impute.main, [str(run), "--in", str(tmp_path / "in.npz"), "--out", str(tmp_path / "out.npz")])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and stderr.count("\n") == 1 and stderr.startswith("error:") and message in stderr
    assert not (tmp_path / "out.npz").exists()


# --- the real thing, tiny: train_vae.py, generate, evaluate and impute on a slice of MNIST ----------------


def run_cli(*args):
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_real_mnist_train_generate_evaluate_impute(mnist_path, tmp_path, monkeypatch, capsys):
    small = tmp_path / "mnist"
    small.mkdir()
    for split, n in (("train", 512), ("test", 100)):
        x, y = data.load_arrays(split=split, data_dir=mnist_path)
        np.savez(small / f"{split}.npz", x=x[:n, ..., 0], y=y[:n])
    run = tmp_path / "run"
    run_cli("train_vae.py", "--conditional", "--data-dir", small, "--out", run, "--steps", "3", "--batch-size", "32")
    assert {"sampler.keras", "decoder.keras", "encoder.keras", "checkpoint.keras"} <= set(os.listdir(run))
    assert (run / "samples" / "epoch_001.png").exists() and (run / "samples" / "recon_epoch_001.png").exists()
    assert runs.read_json(run, runs.CONFIG)["latent_dim"] == 16

    # generate and evaluate in-process (their `python -m` entry points are tested in their own files).
    generate.main([str(run), "--n", "40", "--out", str(tmp_path / "samples.npz")])
    samples = np.load(tmp_path / "samples.npz")
    assert samples["x"].shape == (40, 28, 28) and samples["x"].dtype == np.uint8

    monkeypatch.setenv(reference.CACHE_ENV, str(tmp_path / "cache"))
    x_all, y_all = data.load_arrays(split="train", data_dir=mnist_path)
    np.savez(tmp_path / "real.npz", x=x_all[-40:], y=y_all[-40:])  # real digits the reference never trained on
    scores = {}
    for name in ("samples", "real"):
        capsys.readouterr()
        evaluate.main([str(tmp_path / f"{name}.npz"), "--data-dir", str(small), "--classifier-steps", "40"])
        scores[name] = json.loads(capsys.readouterr().out)
    # Three steps of training draw blurs: scored on the same scale, real digits must come out far ahead.
    assert scores["samples"]["fid"] > 2 * scores["real"]["fid"] > 0, scores
    assert scores["samples"]["label_fidelity"] < scores["real"]["label_fidelity"], scores
    assert scores["samples"]["recall"] < scores["real"]["recall"], scores

    x, y = np.load(small / "test.npz")["x"][:20], np.load(small / "test.npz")["y"][:20]
    mask = masks.half_mask(x.shape, "bottom")
    np.savez(tmp_path / "masked.npz", x=x, mask=mask, y=y)
    run_cli("-m", "augment_tf.impute", run, "--in", tmp_path / "masked.npz", "--out", tmp_path / "repaired.npz",
            "--iterations", "5")
    repaired = np.load(tmp_path / "repaired.npz")
    np.testing.assert_array_equal(repaired["x"][:, :14], x[:, :14])
    np.testing.assert_array_equal(repaired["y"], y)


def test_importance_weighted_bound_tightens_the_elbo():
    """IWAE(K) >= ELBO, and tighter with more draws (Burda et al. 2016), on squares whose position the latent codes."""
    rng = np.random.default_rng(0)

    def squares(n):
        x = np.zeros((n, *SHAPE), np.float32)
        for image, (row, col) in zip(x, rng.integers(0, 22, (n, 2))):
            image[row : row + 6, col : col + 6] = 1.0
        return x

    model = tiny(VAE)
    model.fit(squares(256), batch_size=32, epochs=3, verbose=0)
    x = squares(64)
    elbo = model.log_likelihood_bound(x)
    iwae = {k: model.log_likelihood_bound(x, samples=k, seed=3) for k in (2, 50)}
    assert elbo.mean() < iwae[50].mean() and iwae[2].mean() < iwae[50].mean()
    assert np.mean(iwae[50] >= elbo) > 0.75  # per image too, but for the odd lucky one-draw ELBO
