"""GAN and class-conditional GAN: DCGAN networks, non-saturating loss, EMA generator for sampling.

The generator's weights are averaged over training (exponential moving average); samples come from
that averaged copy, which is sharper and more stable than the raw generator at no training cost.
"""

import typing

import keras
import tensorflow as tf
from keras import ops

from augment_tf.models import networks, replicas
from augment_tf.models.base import (
    ClassConditional, GenerativeModel, apply_gradients, unpack_batch, update_moving_average,
)

LEARNING_RATE = 4e-4  # both networks' Adam (benchmarks/README.md: chosen on the validation split over 2e-4)
ADA_TARGET = 0.6  # the share E[sign(D(real view))] that adaptive augmentation holds (ADA, Karras et al. 2020)
ADA_IMAGES = 10_000  # real images over which the adaptive augmentation probability can move from 0 to 1


class GANStep(typing.NamedTuple):
    """What a training step computed, for `GAN.extra_discriminator_loss` / `extra_generator_loss` to add terms from."""

    images: object  # the real batch, as the dataset gave it
    labels: object  # its labels (None if unconditional)
    fake_labels: object  # the labels the images were generated for (`GAN.generated_labels`)
    z: object  # the latent noise
    fake: object  # the generated images (float32)
    real_views: object  # what the discriminator saw of the real images (themselves, or augmented views)
    real_logits: object
    fake_logits: object
    input_tape: object  # watched real_views while real_logits were computed: .gradient(real_logits, real_views)


@keras.saving.register_keras_serializable(package="augment_tf")
class GAN(GenerativeModel):
    """Unconditional GAN on images scaled to [-1, 1]; `fit` it on batches of images (labels ignored).

    With `augment`, the discriminator sees real and generated images through the same kind of random view.
    `freeze_d` K keeps the discriminator's first K convolutions as they are (FreezeD, Mo et al. 2020): for
    fine-tuning a model trained on other data, whose low-level features the few new images should not overwrite.
    With `adaptive_augment` too, each image is seen through a random view with a probability that rises while the
    discriminator tells real views from generated ones too surely, and falls otherwise (ADA, Karras et al. 2020).
    A variant adds loss terms by overriding `extra_discriminator_loss` / `extra_generator_loss` (docs/training.md).
    """

    value_range = (-1.0, 1.0)
    alternating = False  # True: DCGAN's update scheme (`train_step`), for comparison with the default

    def __init__(self, image_shape=(28, 28, 1), latent_dim=64, width=32, ema_decay=0.999, minibatch_std=True,
                 seed=None, augment=False, freeze_d=0, adaptive_augment=False, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.width = width
        self.ema_decay = ema_decay
        self.minibatch_std = minibatch_std
        self.seed = seed
        self.augment = augment
        build_g = lambda name: networks.upsampler(
            self.image_shape, latent_dim, self.num_classes, width, activation="tanh", name=name
        )
        self.generator = build_g("generator")
        self.ema_generator = build_g("ema_generator")
        self.ema_generator.set_weights(self.generator.get_weights())
        self.discriminator = networks.discriminator(self.image_shape, self.num_classes, width, minibatch_std)
        self.freeze_d = freeze_d
        networks.freeze_convolutions(self.discriminator, freeze_d)
        self.seed_generator = keras.random.SeedGenerator(seed)
        if adaptive_augment and not augment:
            raise ValueError("adaptive_augment sets how often the augment views are used: it needs augment=True")
        self.adaptive_augment = adaptive_augment
        if adaptive_augment:  # every replica computes the same update, so the first one's stands for all
            self.augment_probability = keras.Variable(0.0, trainable=False, name="augment_probability",
                                                      aggregation="only_first_replica")
            self.augment_probability_tracker = keras.metrics.Mean(name="augment_p")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.built = True

    def get_config(self):
        return {**super().get_config(), "ema_decay": self.ema_decay, "minibatch_std": self.minibatch_std,
                "freeze_d": self.freeze_d, "adaptive_augment": self.adaptive_augment}

    def export_models(self):
        """The standalone models a run saves at the end: the averaged generator, usable on its own."""
        return {"generator.keras": networks.portable(self.ema_generator)}

    @property
    def metrics(self):
        adaptive = [self.augment_probability_tracker] if self.adaptive_augment else []
        return [self.d_loss_tracker, self.g_loss_tracker, *adaptive]

    @property
    def sampler(self):
        """The network `generate` samples with: the averaged generator."""
        return self.ema_generator

    def compile(self, d_optimizer=None, g_optimizer=None, jit_compile="auto", **kwargs):
        """Two Adam optimizers by default (4e-4, beta_1=0, beta_2=0.99: without momentum the two players react to
        each other at once; chosen on the validation split over the DCGAN recipe's beta_1=0.5 and over 2e-4,
        benchmarks/README.md); jit_compile 'auto'|True|False."""
        self._compile_with(
            {
                "d_optimizer": d_optimizer or keras.optimizers.Adam(LEARNING_RATE, beta_1=0.0, beta_2=0.99),
                "g_optimizer": g_optimizer or keras.optimizers.Adam(LEARNING_RATE, beta_1=0.0, beta_2=0.99),
            },
            jit_compile,
            **kwargs,
        )

    def _optimized_variables(self):
        return {
            "d_optimizer": self.discriminator.trainable_variables,
            "g_optimizer": self.generator.trainable_variables,
        }

    def train_step(self, data):
        """A simultaneous update: both losses come from one generated batch, which saves a generator and a
        discriminator pass per step over alternating updates (more images/s; benchmarks/README.md). With
        `alternating`, DCGAN's scheme instead: a discriminator update, then a generator update on fresh noise."""
        images, labels = unpack_batch(data)
        if self.alternating:
            d_loss, _, real_logits = self._update(images, labels, generator=False)
            _, g_loss, _ = self._update(images, labels, discriminator=False)
        else:
            d_loss, g_loss, real_logits = self._update(images, labels)
        self._update_ema()
        if self.adaptive_augment:
            self._adapt_augment_probability(real_logits)
        self.d_loss_tracker.update_state(replicas.global_mean(d_loss))
        self.g_loss_tracker.update_state(replicas.global_mean(g_loss))
        return self._logs()

    def _update(self, images, labels, discriminator=True, generator=True):
        """Both losses from one generated batch (plus the extra terms), then an update of the networks named;
        returns (d_loss, g_loss, real_logits)."""
        fake_labels = self.generated_labels(labels)
        cond, fake_cond = self._conditioning(labels), self._conditioning(fake_labels)
        z = self._noise(ops.shape(images)[0])
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            fake = ops.cast(self.generator(self._inputs(z, fake_cond), training=True), "float32")  # as real images
            real_views = ops.convert_to_tensor(self._view(images))  # watchable, even if run eagerly on numpy
            with tf.GradientTape(watch_accessed_variables=False) as input_tape:  # for terms on D's input gradient
                input_tape.watch(real_views)
                real_logits = self.discriminator(self._inputs(real_views, cond), training=True)
            fake_logits = self.discriminator(self._inputs(self._view(fake), fake_cond), training=True)
            step = GANStep(images, labels, fake_labels, z, fake, real_views, real_logits, fake_logits, input_tape)
            d_loss = self.discriminator_loss(real_logits, fake_logits) + self.extra_discriminator_loss(step)
            g_loss = self.generator_loss(fake_logits) + self.extra_generator_loss(step)
            # On the tapes: Keras sums the replicas' gradients; a loss-scaling optimizer scales its loss.
            d_share = self.d_optimizer.scale_loss(replicas.share(d_loss))
            g_share = self.g_optimizer.scale_loss(replicas.share(g_loss))
        d_variables, g_variables = self.discriminator.trainable_variables, self.generator.trainable_variables
        d_grads = d_tape.gradient(d_share, d_variables) if discriminator else None
        g_grads = g_tape.gradient(g_share, g_variables) if generator else None
        if discriminator:
            apply_gradients(self.d_optimizer, d_grads, d_variables)
        if generator:
            apply_gradients(self.g_optimizer, g_grads, g_variables)
        return d_loss, g_loss, real_logits

    def extra_discriminator_loss(self, step):
        """A term added to the discriminator's loss, from the step's tensors (`GANStep`): 0 here; a variant
        overrides it (e.g. an R1 penalty). Computed on the tapes, so its gradient counts, scaled and shared as
        the loss is."""
        return 0.0

    def extra_generator_loss(self, step):
        """A term added to the generator's loss, from the step's tensors (`GANStep`): 0 here; a variant overrides
        it (e.g. a mode-seeking term)."""
        return 0.0

    def generated_labels(self, labels):
        """The labels the step generates its images for (None if unconditional): the real batch's here; a variant
        may choose others (mode seeking pairs them)."""
        return labels

    def _view(self, images):
        """With `adaptive_augment`, each image is a random view with the current probability, else itself."""
        views = super()._view(images)
        if not self.adaptive_augment:
            return views
        draw = replicas.rows(lambda shape: keras.random.uniform(shape, seed=self.seed_generator),
                             (ops.shape(images)[0], 1, 1, 1))
        return ops.where(draw < ops.cast(self.augment_probability, images.dtype), views, images)

    def _adapt_augment_probability(self, real_logits):
        """ADA's overfitting heuristic: more augmentation while the global batch's E[sign(D(real view))] is above
        ADA_TARGET, less below; the step is the batch's share of ADA_IMAGES."""
        overfitting = replicas.global_mean(ops.mean(ops.sign(ops.cast(real_logits, "float32"))))
        step = ops.cast(ops.shape(real_logits)[0] * replicas.count(), "float32") / ADA_IMAGES
        moved = self.augment_probability + ops.sign(overfitting - ADA_TARGET) * step
        self.augment_probability.assign(ops.clip(moved, 0.0, 1.0))
        self.augment_probability_tracker.update_state(self.augment_probability)

    @staticmethod
    def discriminator_loss(real_logits, fake_logits):
        """Non-saturating GAN loss of the discriminator: real images towards 1, generated ones towards 0 (float32,
        whatever precision the networks compute in)."""
        real_logits, fake_logits = ops.cast(real_logits, "float32"), ops.cast(fake_logits, "float32")
        return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))

    @staticmethod
    def generator_loss(fake_logits):
        """Non-saturating GAN loss of the generator: its images towards the discriminator's 1."""
        return ops.mean(ops.softplus(-ops.cast(fake_logits, "float32")))

    def _update_ema(self):
        """Moves the averaged generator towards the trained one; warm-up keeps early samples from lagging."""
        update_moving_average(self.ema_generator.variables, self.generator.variables, self.ema_decay,
                              self.g_optimizer.iterations)


@keras.saving.register_keras_serializable(package="augment_tf")
class ConditionalGAN(ClassConditional, GAN):
    """GAN that generates a requested class: both networks take integer labels; `fit` on (image, label)."""
