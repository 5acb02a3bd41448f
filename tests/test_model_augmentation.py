"""The random views models train on with `augment=True`: random_affine, and GAN/VAE train steps through it."""

import numpy as np
import pytest
import tensorflow as tf

import keras

from augment_tf.models import ConditionalGAN, ConditionalVAE, base
from augment_tf.models.augmentation import random_affine

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


@pytest.mark.parametrize("cls", [ConditionalGAN, ConditionalVAE])
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
