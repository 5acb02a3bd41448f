"""Tests for augment_tf.denoise and the Gaussian-noise observation model of augment_tf.posterior."""

import numpy as np
import pytest
import tensorflow as tf

from augment_tf import denoise, latent_map, posterior
from augment_tf.errors import AugmentError, DataError

PATTERNS = np.stack([np.kron(np.eye(2)[[c % 2, 1 - c % 2]], np.ones((4, 4))) * (c < 2) + (c == 2) for c in range(3)])


def stub(labels_known=True):
    """An encoder and decoder whose decoder draws PATTERNS[label] (8x8, 0/1 pixels) whatever z is: the clean image
    is then known exactly, and only the noise level and the class are left to infer."""
    def encoder(inputs, training=False):
        images = inputs[0] if isinstance(inputs, list) else inputs
        return [np.zeros((len(images), 2), np.float32)] * 2

    def decoder(inputs, training=False):
        z, labels = inputs
        return tf.gather(PATTERNS.astype(np.float32), labels)[..., None] + 0 * tf.reduce_sum(z)

    return encoder, decoder


def noisy(labels, std, seed=0):
    clean = PATTERNS[labels][..., None]
    rng = np.random.default_rng(seed)
    return np.rint(np.clip(clean + rng.normal(0, std, clean.shape), 0, 1) * 255) / 255, clean


def test_the_noise_level_is_estimated_by_the_likelihood_and_clipping_is_modelled():
    labels, levels = np.repeat([0, 1], 20), (0.05, 0.2, 0.5)
    views, cleans = zip(*(noisy(labels, std) for std in levels))  # one call: each image's level is its own
    out, estimated = posterior.denoise(*stub(), np.concatenate(views), None, np.tile(labels, 3), steps=15)
    for group, std in enumerate(levels):
        rows = slice(group * len(labels), (group + 1) * len(labels))
        assert np.median(estimated[rows]) == pytest.approx(std, rel=0.25), std
        np.testing.assert_allclose(out[rows], cleans[group], atol=1e-3)  # certain pixels: the decoder's, not the view's
    x = views[-1]
    _, ignoring = posterior.denoise(*stub(), x, None, labels, clipped=False, steps=15)
    assert np.median(ignoring) < 0.8 * 0.5  # read as unclipped, the pinned values make the noise look smaller


def test_the_code_search_climbs_to_a_code_that_explains_the_view():
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(2, 64)).astype(np.float32) * 8

    def decoder(z, training=False):  # unconditional: nearly binary pixels sigmoid(z W), 8x8, as the model expects
        return tf.reshape(tf.sigmoid(tf.matmul(z, weights)), [-1, 8, 8, 1])

    clean = decoder(rng.normal(size=(16, 2)).astype(np.float32)).numpy()
    view = posterior.GaussianNoise(np.clip(clean + rng.normal(0, 0.3, clean.shape), 0, 1))
    data, log_sigma = view.data(slice(None)), np.full(16, np.log(0.3), np.float32)
    search = posterior.code_search(decoder, view.log_likelihood, steps=100, learning_rate=0.1)
    start = np.zeros((16, 2), np.float32)
    z, fitted, log_joint, p = search(start, log_sigma, 0.0, [], data)
    assert (log_joint.numpy() > view.log_likelihood(decoder(start), log_sigma, *data).numpy() + 10).all()
    error = lambda image: np.mean((image - clean) ** 2)
    assert error(view.estimate(p.numpy(), np.full(16, 0.3))) < error(view.y) / 5  # the start (p = 0.5) is far worse
    np.testing.assert_array_equal(fitted, log_sigma)  # a given level stays where it is
    np.testing.assert_array_equal(search(start, log_sigma, 0.0, [], data)[0], z)  # deterministic


def test_low_noise_keeps_the_views_detail_where_the_decoder_is_unsure():
    view = posterior.GaussianNoise(np.array([[0.9, 0.2]]), clipped=False)
    estimate = view.estimate(np.array([[0.5, 0.5]]), np.array([0.01]))
    np.testing.assert_allclose(estimate, [[0.9, 0.2]], atol=1e-2)  # p(1-p) = 0.25 against 1e-4: the view wins
    np.testing.assert_allclose(view.estimate(np.array([[0.5, 0.5]]), np.array([2.0])), [[0.5, 0.5]], atol=0.05)


def test_without_labels_a_conditional_run_averages_over_classes_by_their_evidence():
    labels = np.array([0, 1, 2, 2])
    x, clean = noisy(labels, 0.3, seed=1)
    out, _ = posterior.denoise(*stub(), x, 0.3, labels=None, num_classes=3, steps=15)
    np.testing.assert_allclose(out, clean, atol=1e-3)  # the right class's pattern outweighs the others'


def test_missing_pixels_and_noise_in_one_call():
    labels = np.array([0, 1])
    x, clean = noisy(labels, 0.2)
    observed = np.ones(x.shape, bool)
    observed[:, :4] = False
    x = np.where(observed, x, 0.0)
    out, _ = posterior.denoise(*stub(), x, 0.2, labels, observed=observed, steps=15)
    np.testing.assert_allclose(out, clean, atol=1e-3)


def test_cli_keeps_dtype_and_shape_and_writes_the_noise_level(three_class_vae_run, tmp_path, capsys):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (6, 28, 28), np.uint8)
    np.savez(tmp_path / "noisy.npz", x=x, y=np.arange(6) % 3)
    denoise.main([three_class_vae_run, "--in", str(tmp_path / "noisy.npz"), "--out", str(tmp_path / "a.npz"),
                  "--noise-std", "0.3", "--steps", "2"])
    out = np.load(tmp_path / "a.npz")
    assert out["x"].dtype == np.uint8 and out["x"].shape == x.shape and (out["noise_std"] == np.float32(0.3)).all()
    np.testing.assert_array_equal(out["y"], np.arange(6) % 3)
    np.savez(tmp_path / "float.npz", x=(x / 255.0).astype(np.float32)[..., None])  # no labels: classes averaged
    denoise.main([three_class_vae_run, "--in", str(tmp_path / "float.npz"), "--out", str(tmp_path / "b.npz"),
                  "--steps", "1"])
    out = np.load(tmp_path / "b.npz")
    assert out["x"].dtype == np.float32 and out["x"].shape == (6, 28, 28, 1) and len(out["noise_std"]) == 6
    assert 0 <= out["x"].min() and out["x"].max() <= 1
    assert "estimated noise std median" in capsys.readouterr().out


def test_bad_input_is_one_line_and_writes_nothing(three_class_vae_run, three_class_gan_run, tmp_path):
    x = np.zeros((4, 28, 28), np.uint8)
    np.savez(tmp_path / "ok.npz", x=x, y=np.zeros(4, int))
    np.savez(tmp_path / "shape.npz", x=np.zeros((4, 20, 20), np.uint8))
    np.savez(tmp_path / "nan.npz", x=np.full((4, 28, 28), np.nan, np.float32))
    np.savez(tmp_path / "labels.npz", x=x, y=np.full(4, 7))
    np.savez(tmp_path / "mask.npz", x=x, y=np.zeros(4, int), mask=np.ones((4, 28, 27), np.uint8))
    out = str(tmp_path / "out.npz")
    for name, message in (("shape", r"images are \(20, 20, 1\) but the run was trained on"), ("nan", "NaN"),
                          ("labels", "labels in 0..2"), ("mask", "mask must have x's shape")):
        with pytest.raises(DataError, match=message):
            denoise.main([three_class_vae_run, "--in", str(tmp_path / f"{name}.npz"), "--out", out])
    with pytest.raises(AugmentError, match="--noise-std is a standard deviation"):
        denoise.main([three_class_vae_run, "--in", str(tmp_path / "ok.npz"), "--out", out, "--noise-std", "-0.1"])
    gan = three_class_gan_run
    with pytest.raises(AugmentError, match="denoise needs a VAE run"):
        denoise.main([str(gan), "--in", str(tmp_path / "ok.npz"), "--out", out])
    from augment_tf import encode

    with pytest.raises(AugmentError, match="encode needs a VAE run; .* train one with train_vae.py"):
        encode.main([str(gan), "--in", str(tmp_path / "ok.npz"), "--out", out])
    with pytest.raises(DataError, match=r"images are \(20, 20, 1\) but the run was trained on"):
        encode.main([three_class_vae_run, "--in", str(tmp_path / "shape.npz"), "--out", out])
    assert not (tmp_path / "out.npz").exists()


# --- encode ---------------------------------------------------------------------------------------------------------


def test_encode_writes_each_images_posterior_and_a_map(three_class_vae_run, tmp_path, capsys):
    from augment_tf import encode

    rng = np.random.default_rng(4)
    x, y = rng.integers(0, 256, (12, 28, 28), np.uint8), np.arange(12) % 3
    np.savez(tmp_path / "in.npz", x=x, y=y)
    encode.main([three_class_vae_run, "--in", str(tmp_path / "in.npz"), "--out", str(tmp_path / "codes.npz"), "--map",
                 str(tmp_path / "map.png")])
    codes = np.load(tmp_path / "codes.npz")
    assert codes["mean"].shape == codes["log_var"].shape == (12, 4) and (codes["y"] == y).all()
    assert (tmp_path / "map.png").stat().st_size > 1000
    from augment_tf import runs

    encoder = runs.load_exported(three_class_vae_run, ["encoder.keras"])["encoder.keras"]
    mean, _ = encoder([x[..., None].astype("float32") / 255, y.astype("int32")], training=False)
    np.testing.assert_allclose(codes["mean"], mean, rtol=1e-5, atol=1e-5)
    np.savez(tmp_path / "unlabelled.npz", x=x)
    with pytest.raises(DataError, match="conditional and its encoder reads labels"):
        encode.main([three_class_vae_run, "--in", str(tmp_path / "unlabelled.npz"), "--out", str(tmp_path / "b.npz")])
    plane, share = latent_map.principal_plane(rng.normal(size=(200, 5)) * [5, 3, 1, 1, 1])
    assert plane.shape == (200, 2) and 0.7 < share < 1
