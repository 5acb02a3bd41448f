"""Alternatives to the GAN's defaults, one change each, so that `gan_quality.py --variant` can re-make a choice.

Each variant builds the model `train_gan.build_model` would build, with one thing changed; `defaults` changes
nothing. They exist to choose defaults on the validation split, not for users.
"""

import keras
from keras import ops

from augment_tf import train_gan
from augment_tf.models import ConditionalGAN
from augment_tf.models.gan import LEARNING_RATE


@keras.saving.register_keras_serializable(package="augment_tf_benchmarks")
class AlternatingConditionalGAN(ConditionalGAN):
    """The DCGAN update the defaults replaced: a discriminator step, then a generator step on fresh noise."""

    alternating = True


@keras.saving.register_keras_serializable(package="augment_tf_benchmarks")
class ModeSeekingConditionalGAN(ConditionalGAN):
    """The defaults plus MSGAN's mode-seeking term (Mao et al. 2019): the generated batch's second half repeats the
    first half's labels with other noise, and the generator is pushed to make each pair differ as much as their
    noise does (`mode_seeking` weights 1 / (mean |G(z1) - G(z2)| / mean |z1 - z2|)). No extra network pass."""

    mode_seeking = 1.0

    def generated_labels(self, labels):
        half = ops.shape(labels)[0] // 2
        return ops.concatenate([labels[:half], labels[:half], labels[2 * half:]], axis=0)

    def extra_generator_loss(self, step):
        half = ops.shape(step.fake)[0] // 2
        spread = (ops.mean(ops.abs(step.fake[:half] - step.fake[half:2 * half]))
                  / ops.mean(ops.abs(step.z[:half] - step.z[half:2 * half])))
        return self.mode_seeking / (spread + 1e-5)


@keras.saving.register_keras_serializable(package="augment_tf_benchmarks")
class R1ConditionalGAN(ConditionalGAN):
    """The defaults plus an R1 penalty (Mescheder et al. 2018): the discriminator also pays `r1_gamma` / 2 times the
    squared gradient of its logits at the real images, which keeps it smooth where the data is."""

    r1_gamma = 1.0

    def extra_discriminator_loss(self, step):
        slope = step.input_tape.gradient(step.real_logits, step.real_views)
        return 0.5 * self.r1_gamma * ops.mean(ops.sum(ops.square(slope), axis=(1, 2, 3)))


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
