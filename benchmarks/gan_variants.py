"""Alternatives to the GAN's defaults, one change each, so that `gan_quality.py --variant` can re-make a choice.

Each variant builds the model `train_gan.build_model` would build, with one thing changed; `defaults` changes
nothing. They exist to choose defaults on the validation split, not for users.
"""

import keras
import tensorflow as tf
from keras import ops

from augment_tf import train_gan
from augment_tf.models import ConditionalGAN
from augment_tf.models.gan import LEARNING_RATE
from augment_tf.models.base import unpack_batch


@keras.saving.register_keras_serializable(package="augment_tf_benchmarks")
class AlternatingConditionalGAN(ConditionalGAN):
    """The DCGAN update the defaults replaced: a discriminator step, then a generator step on fresh noise."""

    def train_step(self, data):
        images, labels = unpack_batch(data)
        cond = self._conditioning(labels)
        batch_size = ops.shape(images)[0]
        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        fake = self.generator(self._inputs(z, cond), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(self._inputs(self._view(images), cond), training=True)
            fake_logits = self.discriminator(self._inputs(self._view(fake), cond), training=True)
            d_loss = self.discriminator_loss(real_logits, fake_logits)
        d_variables = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_variables), d_variables))

        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator(self._inputs(z, cond), training=True)
            fake_logits = self.discriminator(self._inputs(self._view(fake), cond), training=True)
            g_loss = self.generator_loss(fake_logits)
        g_variables = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_variables), g_variables))

        self._update_ema()
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}


def _apply_simultaneous_step(model, d_tape, d_loss, g_tape, g_loss):
    """The end of the defaults' train_step (one device): both networks' updates, the averaged generator, the logs."""
    d_variables, g_variables = model.discriminator.trainable_variables, model.generator.trainable_variables
    model.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_variables), d_variables))
    model.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_variables), g_variables))
    model._update_ema()
    model.d_loss_tracker.update_state(d_loss)
    model.g_loss_tracker.update_state(g_loss)
    return {m.name: m.result() for m in model.metrics}


@keras.saving.register_keras_serializable(package="augment_tf_benchmarks")
class ModeSeekingConditionalGAN(ConditionalGAN):
    """The defaults plus MSGAN's mode-seeking term (Mao et al. 2019): the generated batch's second half repeats the
    first half's labels with other noise, and the generator is pushed to make each pair differ as much as their
    noise does (`mode_seeking` weights 1 / (mean |G(z1) - G(z2)| / mean |z1 - z2|)). No extra network pass."""

    mode_seeking = 1.0

    def train_step(self, data):
        images, labels = unpack_batch(data)
        half = ops.shape(images)[0] // 2
        fake_labels = ops.concatenate([labels[:half], labels[:half], labels[2 * half:]], axis=0)
        cond, fake_cond = self._conditioning(labels), self._conditioning(fake_labels)
        z = self._noise(ops.shape(images)[0])
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            fake = ops.cast(self.generator(self._inputs(z, fake_cond), training=True), "float32")
            real_logits = self.discriminator(self._inputs(self._view(images), cond), training=True)
            fake_logits = self.discriminator(self._inputs(self._view(fake), fake_cond), training=True)
            d_loss = self.discriminator_loss(real_logits, fake_logits)
            spread = (ops.mean(ops.abs(fake[:half] - fake[half:2 * half]))
                      / ops.mean(ops.abs(z[:half] - z[half:2 * half])))
            g_loss = self.generator_loss(fake_logits) + self.mode_seeking / (spread + 1e-5)
        return _apply_simultaneous_step(self, d_tape, d_loss, g_tape, g_loss)


@keras.saving.register_keras_serializable(package="augment_tf_benchmarks")
class R1ConditionalGAN(ConditionalGAN):
    """The defaults plus an R1 penalty (Mescheder et al. 2018): the discriminator also pays `r1_gamma` / 2 times the
    squared gradient of its logits at the real images, which keeps it smooth where the data is."""

    r1_gamma = 1.0

    def train_step(self, data):
        images, labels = unpack_batch(data)
        cond = self._conditioning(labels)
        z = self._noise(ops.shape(images)[0])
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            fake = ops.cast(self.generator(self._inputs(z, cond), training=True), "float32")
            real_views = self._view(images)
            with tf.GradientTape() as r1_tape:
                r1_tape.watch(real_views)
                real_logits = self.discriminator(self._inputs(real_views, cond), training=True)
                total = ops.sum(ops.cast(real_logits, "float32"))
            slope = r1_tape.gradient(total, real_views)
            fake_logits = self.discriminator(self._inputs(self._view(fake), cond), training=True)
            penalty = ops.mean(ops.sum(ops.square(slope), axis=(1, 2, 3)))
            d_loss = self.discriminator_loss(real_logits, fake_logits) + 0.5 * self.r1_gamma * penalty
            g_loss = self.generator_loss(fake_logits)
        return _apply_simultaneous_step(self, d_tape, d_loss, g_tape, g_loss)


def _with_adam(learning_rate, beta_1, beta_2):
    """The default model with both networks on Adam(learning_rate, beta_1, beta_2)."""
    def build(config):
        model = train_gan.build_model(config)
        model.compile(
            d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2),
            g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2),
            jit_compile=model.jit_compile,
        )
        return model

    return build


def _rebuilt(model_class=ConditionalGAN, **changes):
    """The default model's config with `changes`, as `model_class`, compiled like the default."""
    def build(config):
        default = train_gan.build_model(config)
        model = model_class.from_config({**default.get_config(), **changes})
        model.compile(jit_compile=default.jit_compile)
        return model

    return build


VARIANTS = {
    "defaults": train_gan.build_model,
    "alternating": _rebuilt(AlternatingConditionalGAN),  # update scheme
    "adam-beta1-0.5": _with_adam(LEARNING_RATE, 0.5, 0.999),  # the DCGAN recipe's betas
    "lr-2e-4": _with_adam(2e-4, 0.0, 0.99),  # the default before the validation split chose 4e-4
    "no-minibatch-std": _rebuilt(minibatch_std=False),
    "mode-seeking": _rebuilt(ModeSeekingConditionalGAN),  # issue 38: variety within a class
    "r1": _rebuilt(R1ConditionalGAN),
}
