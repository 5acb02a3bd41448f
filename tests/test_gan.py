"""GAN and ConditionalGAN: shapes, one train_step, seeds, save/load round trips."""

import numpy as np
import pytest
import tensorflow as tf

import keras

from augment_tf.models import GAN, ConditionalGAN

SHAPE = (28, 28, 1)


def tiny(cls=ConditionalGAN, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    kwargs.setdefault("latent_dim", 8)
    kwargs.setdefault("width", 8)
    if cls is ConditionalGAN:
        kwargs.setdefault("num_classes", 10)
    model = cls(image_shape=SHAPE, seed=seed, **kwargs)
    model.compile()
    return model


def batches(n=2, batch_size=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n * batch_size, *SHAPE)).astype("float32")
    y = rng.integers(0, 10, n * batch_size)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size, drop_remainder=True)


def weights(network):
    return [w.copy() for w in network.get_weights()]


@pytest.mark.parametrize("cls", [GAN, ConditionalGAN])
def test_generate_shapes_and_range(cls):
    model = tiny(cls)
    labels = np.arange(5) if cls is ConditionalGAN else None
    images = model.generate(model.latent(5, seed=1), labels)
    assert images.shape == (5, *SHAPE) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1


@pytest.mark.parametrize("cls", [GAN, ConditionalGAN])
def test_train_step_updates_both_networks_and_reports_losses(cls):
    model = tiny(cls)
    g, d, ema = weights(model.generator), weights(model.discriminator), weights(model.ema_generator)
    history = model.fit(batches(), epochs=1, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss"}
    assert all(np.isfinite(v[0]) for v in history.history.values())
    for before, network in [(g, model.generator), (d, model.discriminator), (ema, model.ema_generator)]:
        assert any(not np.array_equal(a, b) for a, b in zip(before, network.get_weights())), network.name


def test_constant_background_keeps_losses_finite():
    """MNIST-like images (a constant background) give features with zero spread across the batch."""
    x = np.full((16, *SHAPE), -1.0, np.float32)
    x[:, 10:18, 12:16] = 1.0
    model = tiny()
    data = tf.data.Dataset.from_tensor_slices((x, np.arange(16) % 10)).batch(8)
    history = model.fit(data, epochs=2, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values())


def test_same_seed_same_training_and_samples():
    def train(seed):
        model = tiny(seed=seed)
        model.fit(batches(), epochs=1, verbose=0)
        return model.generate(model.latent(4, seed=3), np.arange(4))

    np.testing.assert_array_equal(train(0), train(0))
    assert not np.array_equal(train(0), train(1))


def test_conditional_generate_rejects_bad_labels():
    model = tiny()
    with pytest.raises(ValueError, match="labels"):
        model.generate(model.latent(3), None)
    with pytest.raises(ValueError, match="class indices"):
        model.generate(model.latent(3), [0, 1, 10])


def test_conditional_gan_needs_labels_in_data():
    model = tiny()
    images_only = batches().map(lambda x, y: x)
    with pytest.raises(ValueError, match="images only"):
        model.fit(images_only, epochs=1, verbose=0)


def test_full_model_round_trip_continues_identically(tmp_path):
    model = tiny()
    model.fit(batches(), epochs=1, verbose=0)
    model.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert type(loaded) is ConditionalGAN and loaded.get_config() == model.get_config()
    for a, b in zip(model.variables + model.d_optimizer.variables, loaded.variables + loaded.d_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    model.fit(batches(seed=1), epochs=1, verbose=0)
    loaded.fit(batches(seed=1), epochs=1, verbose=0)
    for a, b in zip(model.variables, loaded.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


def test_generator_saves_alone_and_loads_without_custom_objects(tmp_path):
    model = tiny()
    model.fit(batches(), epochs=1, verbose=0)
    path = tmp_path / "generator.keras"
    model.export_models()["generator.keras"].save(path)
    generator = keras.saving.load_model(path)
    assert not [layer for layer in generator.layers if "augment_tf" in type(layer).__module__]
    z, labels = model.latent(4, seed=2), np.arange(4)
    np.testing.assert_allclose(generator.predict([z, labels], verbose=0), model.generate(z, labels), atol=1e-6)


@pytest.mark.slow  # an XLA compilation of a GAN step, 7 s: the CPU default trains without it
def test_jit_compile_auto_is_off_on_cpu_and_on_works():
    model = tiny()
    assert model.jit_compile is False  # no GPU here: plain tf.function measured faster on CPU
    model = tiny()
    model.compile(jit_compile=True)
    history = model.fit(batches(n=1), epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][0])


@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 1), (16, 16, 1), (30, 30, 3), (105, 105, 1)])
def test_networks_take_any_image_size(shape):
    """Sides not multiples of 4 are padded inside the networks; generated images are cropped back to the user's size."""
    from augment_tf.models import networks

    generator = networks.upsampler(shape, 8, num_classes=3, width=4)
    images = generator.predict([np.zeros((2, 8), np.float32), np.arange(2)], verbose=0)
    assert images.shape == (2, *shape)
    discriminator = networks.discriminator(shape, num_classes=3, width=4, minibatch_std=True)
    assert discriminator.predict([images, np.arange(2)], verbose=0).shape == (2, 1)
    encoder = networks.encoder(shape, 4, width=4)
    assert [t.shape for t in encoder.predict(images, verbose=0)] == [(2, 4), (2, 4)]


def test_leaky_relu_matches_keras_in_value_and_gradient():
    """The output-reading gradient (which lets oneDNN fuse conv + bias + activation) is LeakyReLU's own."""
    from augment_tf.models import networks

    x = tf.constant(np.linspace(-3, 3, 13, dtype="float32"))
    outputs, gradients = [], []
    for layer in (networks.LeakyReLU(0.2), keras.layers.LeakyReLU(0.2)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.range(13, dtype="float32"))
        outputs.append(y.numpy())
        gradients.append(tape.gradient(loss, x).numpy())
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_allclose(gradients[0], np.where(x.numpy() > 0, 1.0, 0.2) * np.arange(13), rtol=1e-6)
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=1e-6)


def test_one_step_losses_and_ema_match_a_hand_computation():
    """d_loss, g_loss from the pre-step networks on the step's own noise; the EMA moves by the warm-up decay."""
    model = tiny(minibatch_std=False)
    (images, labels), = batches(n=1).take(1)
    state = model.seed_generator.state.numpy()
    ema_before = [w.copy() for w in model.ema_generator.get_weights()]
    generator, discriminator = (keras.models.clone_model(n) for n in (model.generator, model.discriminator))
    generator.set_weights(model.generator.get_weights())
    discriminator.set_weights(model.discriminator.get_weights())

    logs = model.train_on_batch(images, labels, return_dict=True)

    replay = keras.random.SeedGenerator(0)
    replay.state.assign(state)
    z = keras.random.normal((8, model.latent_dim), seed=replay)  # the step's first draw
    fake = generator([z, labels], training=True)
    real_logits = discriminator([images, labels], training=True).numpy()
    fake_logits = discriminator([fake, labels], training=True).numpy()
    softplus = lambda v: np.log1p(np.exp(v))  # noqa: E731
    np.testing.assert_allclose(logs["d_loss"], softplus(-real_logits).mean() + softplus(fake_logits).mean(), rtol=1e-4)
    np.testing.assert_allclose(logs["g_loss"], softplus(-fake_logits).mean(), rtol=1e-4)

    decay = min(model.ema_decay, (1 + 1) / (10 + 1))  # after the first generator update
    for average, before, current in zip(model.ema_generator.get_weights(), ema_before, model.generator.get_weights()):
        np.testing.assert_allclose(average, decay * before + (1 - decay) * current, rtol=1e-5, atol=1e-6)
