"""The random views models train on with `augment=True`: random_affine, and GAN/VAE train steps through it."""

import numpy as np
import pytest
import tensorflow as tf

import keras

from augment_tf.models import ConditionalGAN, ConditionalVAE, base, gan
from augment_tf.models.random_views import random_affine

SHAPE = (28, 28, 1)


def digits(n=8, background=-1.0):
    x = np.full((n, *SHAPE), background, np.float32)
    x[:, 8:20, 12:16] = 1.0  # a bar in the middle, well inside the largest shift
    return x


def test_random_affine_moves_each_image_differently_and_fills_with_the_background():
    x = digits()
    moved = np.asarray(random_affine(x, keras.random.SeedGenerator(0), fill_value=-1.0))
    assert moved.shape == x.shape and moved.dtype == np.float32
    assert moved.min() >= -1.0 - 1e-6 and moved.max() <= 1.0 + 1e-6
    np.testing.assert_allclose(moved[:, :2], -1.0, atol=1e-6)  # the border stays background
    assert not np.allclose(moved, x)
    assert len({moved[i].tobytes() for i in range(len(x))}) == len(x)
    empty = np.full((2, *SHAPE), 0.0, np.float32)
    np.testing.assert_array_equal(np.asarray(random_affine(empty, keras.random.SeedGenerator(0))), empty)


def test_random_affine_same_seed_same_views_and_gradients_flow():
    x = tf.Variable(digits())
    first = random_affine(x, keras.random.SeedGenerator(3), fill_value=-1.0)
    again = random_affine(x, keras.random.SeedGenerator(3), fill_value=-1.0)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(random_affine(x, keras.random.SeedGenerator(3), fill_value=-1.0) ** 2)
    gradient = tape.gradient(loss, x)
    assert gradient is not None and float(tf.reduce_sum(tf.abs(gradient))) > 0


# the GAN: slow, 9 s; the default run trains its views in test_training's resume test
@pytest.mark.parametrize("cls", [pytest.param(ConditionalGAN, marks=pytest.mark.slow), ConditionalVAE])
def test_augmented_training_differs_from_plain_and_round_trips(cls, tmp_path, monkeypatch):
    """Against a control that draws the same random numbers but hands the networks the images unmoved: the
    views themselves, not merely a shifted noise stream, change what the model learns."""
    low = cls.value_range[0]
    x, y = digits(16, low), np.arange(16) % 10

    def train(augment):
        keras.utils.set_random_seed(0)
        model = cls(image_shape=SHAPE, latent_dim=8, width=8, num_classes=10, seed=0, augment=augment)
        model.compile()
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        assert all(np.isfinite(v[0]) for v in history.history.values())
        return model

    trained = {False: train(False), True: train(True)}

    def same_draws_unmoved_images(self, images):
        random_affine(images, self.seed_generator, fill_value=self.value_range[0])
        return images

    with monkeypatch.context() as patch:
        patch.setattr(base.GenerativeModel, "_view", same_draws_unmoved_images)
        control = train(True)
    plain, augmented, unmoved = (m.sampler.get_weights() for m in (trained[False], trained[True], control))
    assert any(not np.allclose(a, b) for a, b in zip(plain, augmented))
    assert any(not np.allclose(a, b, atol=1e-5) for a, b in zip(unmoved, augmented))
    trained[True].save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.augment is True and loaded.get_config() == trained[True].get_config()


def adaptive_gan(**kwargs):
    return ConditionalGAN(image_shape=SHAPE, latent_dim=8, width=8, num_classes=10, seed=0, augment=True,
                          adaptive_augment=True, **kwargs)


def test_adaptive_augment_probability_rises_while_the_discriminator_is_sure_and_falls_otherwise():
    model = adaptive_gan()
    step = 8 / gan.ADA_IMAGES
    sure, unsure = np.full((8, 1), 3.0, np.float32), np.array([[1.0]] * 4 + [[-1.0]] * 4, np.float32)
    for expected in (step, 2 * step):
        model._adapt_augment_probability(sure)  # E[sign] = 1 > ADA_TARGET: more augmentation
        assert float(model.augment_probability) == pytest.approx(expected)
    for expected in (step, 0.0, 0.0):  # E[sign] = 0 < ADA_TARGET: less, never below 0
        model._adapt_augment_probability(unsure)
        assert float(model.augment_probability) == pytest.approx(expected, abs=1e-9)
    model.augment_probability.assign(1.0 - step / 2)
    model._adapt_augment_probability(sure)
    assert float(model.augment_probability) == 1.0


def test_adaptive_views_are_the_images_at_probability_0_and_views_at_1():
    x = digits(8)
    model = adaptive_gan()
    np.testing.assert_array_equal(np.asarray(model._view(x)), x)
    model.augment_probability.assign(1.0)
    views = np.asarray(model._view(x))
    assert all(not np.allclose(v, i) for v, i in zip(views, x))
    model.augment_probability.assign(0.5)
    half = np.asarray(model._view(digits(64)))
    moved = sum(not np.array_equal(v, i) for v, i in zip(half, digits(64)))
    assert 16 <= moved <= 48


def test_adaptive_augment_trains_logs_its_probability_and_round_trips(tmp_path, monkeypatch):
    monkeypatch.setattr(gan, "ADA_IMAGES", 64)  # moves within a few steps
    x, y = digits(16), np.arange(16) % 10
    keras.utils.set_random_seed(0)
    model = adaptive_gan()
    model.compile()
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
    assert 0.0 < history.history["augment_p"][-1] <= 1.0 and float(model.augment_probability) > 0.0
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.get_config() == model.get_config() and loaded.adaptive_augment is True
    assert float(loaded.augment_probability) == float(model.augment_probability)


def test_adaptive_augment_needs_augment():
    with pytest.raises(ValueError, match="needs augment=True"):
        ConditionalGAN(num_classes=10, width=8, latent_dim=8, augment=False, adaptive_augment=True)
