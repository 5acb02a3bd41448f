"""GAN and class-conditional GAN: DCGAN networks, non-saturating loss, EMA generator for sampling.

The generator's weights are averaged over training (exponential moving average); samples come from
that averaged copy, which is sharper and more stable than the raw generator at no training cost.
"""

import keras
import tensorflow as tf
from keras import ops

from augment_tf.models import networks


def resolve_jit_compile(jit_compile):
    """'auto' -> XLA on GPU only: on CPU it measured slower than plain tf.function (benchmarks/README.md)."""
    if jit_compile == "auto":
        return bool(tf.config.list_physical_devices("GPU"))
    return bool(jit_compile)


def unpack_batch(data):
    """(images, labels) or images alone -> (images, labels or None)."""
    if isinstance(data, (tuple, list)):
        return data[0], (data[1] if len(data) > 1 else None)
    return data, None


@keras.saving.register_keras_serializable(package="augment_tf")
class GAN(keras.Model):
    """Unconditional GAN on images scaled to [-1, 1]; `fit` it on batches of images (labels ignored)."""

    num_classes = None
    value_range = (-1.0, 1.0)

    def __init__(self, image_shape=(28, 28, 1), latent_dim=64, width=64, ema_decay=0.999, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.width = width
        self.ema_decay = ema_decay
        self.seed = seed
        build_g = lambda name: networks.upsampler(
            self.image_shape, latent_dim, self.num_classes, width, activation="tanh", name=name
        )
        self.generator = build_g("generator")
        self.ema_generator = build_g("ema_generator")
        self.ema_generator.set_weights(self.generator.get_weights())
        self.discriminator = networks.discriminator(self.image_shape, self.num_classes, width)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.built = True

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": self.image_shape,
            "latent_dim": self.latent_dim,
            "width": self.width,
            "ema_decay": self.ema_decay,
            "seed": self.seed,
        }

    def save_own_variables(self, store):
        """Also saves the sampling RNG state, so a resumed run draws the same noise as an uninterrupted one."""
        super().save_own_variables(store)
        store["seed_generator_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        self.seed_generator.state.assign(store["seed_generator_state"])
        super().load_own_variables({k: store[k] for k in store.keys() if k != "seed_generator_state"})

    def export_models(self):
        """The standalone models a run saves at the end: the averaged generator, usable on its own."""
        return {"generator.keras": self.ema_generator}

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer=None, g_optimizer=None, jit_compile="auto", **kwargs):
        """Two Adam optimizers by default (2e-4, beta_1=0.5, the DCGAN recipe); jit_compile 'auto'|True|False."""
        super().compile(jit_compile=resolve_jit_compile(jit_compile), **kwargs)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self._jit_setting = jit_compile

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return {
            "d_optimizer": keras.optimizers.serialize(self.d_optimizer),
            "g_optimizer": keras.optimizers.serialize(self.g_optimizer),
            "jit_compile": self._jit_setting,
        }

    def compile_from_config(self, config):
        """Recompiles after `load_model` and builds the optimizers so their saved state can load."""
        self.compile(
            d_optimizer=keras.optimizers.deserialize(config["d_optimizer"]),
            g_optimizer=keras.optimizers.deserialize(config["g_optimizer"]),
            jit_compile=config.get("jit_compile", "auto"),
        )
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def _conditioning(self, labels):
        """Extra network inputs: none for the unconditional GAN."""
        return []

    @staticmethod
    def _inputs(first, cond):
        """A network's inputs: the tensor alone, or [tensor, labels] for conditional networks."""
        return [first, *cond] if cond else first

    def call(self, inputs, training=False):
        """Maps latent vectors (and labels, if conditional) to images with the averaged generator."""
        return self.ema_generator(inputs, training=training)

    def train_step(self, data):
        images, labels = unpack_batch(data)
        cond = self._conditioning(labels)
        batch_size = ops.shape(images)[0]

        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        fake = self.generator(self._inputs(z, cond), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(self._inputs(images, cond), training=True)
            fake_logits = self.discriminator(self._inputs(fake, cond), training=True)
            d_loss = ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))
        grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))

        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator(self._inputs(z, cond), training=True)
            fake_logits = self.discriminator(self._inputs(fake, cond), training=True)
            g_loss = ops.mean(ops.softplus(-fake_logits))
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))

        self._update_ema()
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def _update_ema(self):
        """Moves the averaged generator towards the trained one; warm-up keeps early samples from lagging."""
        step = ops.cast(self.g_optimizer.iterations, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))
        for average, current in zip(self.ema_generator.variables, self.generator.variables):
            average.assign(decay * average + (1.0 - decay) * ops.cast(current, average.dtype))

    def latent(self, n, seed=None):
        """`n` standard-normal latent vectors; a fixed `seed` gives the same vectors every time."""
        return keras.random.normal((n, self.latent_dim), seed=seed)

    def generate(self, z, labels=None, batch_size=500):
        """Images in [-1, 1] as a numpy array (N, H, W, C) for the given latent vectors (and labels)."""
        inputs = z if self.num_classes is None else [z, self._check_labels(labels, len(z))]
        return self.ema_generator.predict(inputs, batch_size=batch_size, verbose=0)

    def _check_labels(self, labels, n):
        return labels


@keras.saving.register_keras_serializable(package="augment_tf")
class ConditionalGAN(GAN):
    """GAN that generates a requested class: both networks take integer labels; `fit` on (image, label)."""

    def __init__(self, num_classes=10, **kwargs):
        self.num_classes = int(num_classes)
        super().__init__(**kwargs)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}

    def _conditioning(self, labels):
        if labels is None:
            raise ValueError("ConditionalGAN trains on (image, label) batches; the dataset yielded images only")
        return [ops.cast(labels, "int32")]

    def _check_labels(self, labels, n):
        import numpy as np

        if labels is None:
            raise ValueError("ConditionalGAN.generate needs labels (one class index per latent vector)")
        labels = np.asarray(labels, np.int32).reshape(-1)
        if len(labels) != n or labels.min(initial=0) < 0 or labels.max(initial=0) >= self.num_classes:
            raise ValueError(f"labels must be {n} class indices in [0, {self.num_classes}), got shape {labels.shape}")
        return labels
