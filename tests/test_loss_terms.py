"""The models' hook for extra loss terms: a term lands in the one loss it names, the default step is unchanged, and
a variant through the hook keeps loss scaling and trains under tf.distribute as on one device."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from augment_tf import distribute
from augment_tf.models import GAN, VAE, ConditionalGAN, ConditionalVAE
from benchmarks.gan_variants import VARIANTS, ModeSeekingConditionalGAN, R1ConditionalGAN
from tests.conftest import REPLICAS

CONFIG = dict(image_shape=(8, 8, 1), latent_dim=4, width=4, seed=0, augment=False, num_classes=3, conditional=True,
              jit_compile="off")
X = tf.constant(np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 1)).astype("float32"))
Y = tf.constant([0, 1, 2, 0])


class Constant:
    """Adds a constant term to the one loss `loss` names (a mixin for the models)."""

    term = 0.0

    def extra_discriminator_loss(self, step):
        return self.term if self.loss == "d_loss" else 0.0

    def extra_generator_loss(self, step):
        return self.term if self.loss == "g_loss" else 0.0

    def extra_loss(self, step):
        return self.term


class ConstantGAN(Constant, ConditionalGAN):
    pass


class ConstantVAE(Constant, ConditionalVAE):
    pass


def first_step(model, start, **settings):
    """The logs of one step of `model` (run eagerly: no tracing for one step) from weights `start` on X, Y with
    `settings` set on it."""
    model.run_eagerly = True
    model.set_weights(start)
    for name, value in settings.items():
        setattr(model, name, value)
    return {k: float(v) for k, v in model.train_on_batch(X, Y, return_dict=True).items()}


def tiny(cls, **kwargs):
    model = cls(image_shape=(8, 8, 1), latent_dim=4, width=4, seed=0, num_classes=3, **kwargs)
    model.compile(jit_compile=False, run_eagerly=True)
    return model


@pytest.mark.parametrize("loss", ["d_loss", "g_loss"])
def test_a_gan_term_is_added_to_the_loss_it_names_and_no_other(loss):
    start = tiny(ConstantGAN).get_weights()
    off = first_step(tiny(ConstantGAN), start, loss=loss)
    on = first_step(tiny(ConstantGAN), start, loss=loss, term=0.75)
    other = ({"d_loss", "g_loss"} - {loss}).pop()
    assert on[loss] - off[loss] == pytest.approx(0.75, abs=1e-6) and on[other] == off[other]


def test_a_vae_term_is_added_to_the_training_loss_only():
    start = tiny(ConstantVAE).get_weights()
    x01 = (X + 1) / 2
    logs = {}
    for term in (0.0, 2.5):
        model = tiny(ConstantVAE)
        model.set_weights(start)
        model.term = term
        logs[term] = {k: float(v) for k, v in model.train_on_batch(x01, Y, return_dict=True).items()}
    assert logs[2.5]["loss"] - logs[0.0]["loss"] == pytest.approx(2.5, abs=1e-4)
    assert logs[2.5]["reconstruction_loss"] == logs[0.0]["reconstruction_loss"]
    assert logs[2.5]["kl_loss"] == logs[0.0]["kl_loss"]


@pytest.mark.parametrize("cls", [GAN, VAE])
def test_the_default_hooks_add_nothing(cls):
    """The default model's step is the one without any term: same weights bit for bit as a zero-term variant's."""
    variant = {GAN: ConstantGAN, VAE: ConstantVAE}[cls]
    conditional = {GAN: ConditionalGAN, VAE: ConditionalVAE}[cls]
    images = X if cls is GAN else (X + 1) / 2
    start, weights = tiny(conditional).get_weights(), []
    for model_class, settings in ((conditional, {}), (variant, {"loss": "d_loss", "term": 0.0})):
        model = tiny(model_class)
        model.set_weights(start)
        for name, value in settings.items():
            setattr(model, name, value)
        model.fit(images, Y, batch_size=2, epochs=1, verbose=0, shuffle=False)
        weights.append(model.get_weights())
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_mode_seeking_and_r1_add_their_terms_to_the_one_loss_they_name():
    """Mode seeking: the generator's loss rises by 1 / spread of the pairs; R1: the discriminator's by gamma / 2 x
    the mean squared input gradient at the real images. Same networks and draws; the other loss is unchanged."""
    for name, cls, weight, changed, same in (("mode-seeking", ModeSeekingConditionalGAN, "mode_seeking", "g_loss", "d_loss"),
                                             ("r1", R1ConditionalGAN, "r1_gamma", "d_loss", "g_loss")):
        start = VARIANTS[name](CONFIG).get_weights()
        off = first_step(VARIANTS[name](CONFIG), start, **{weight: 0.0})
        on = first_step(VARIANTS[name](CONFIG), start)
        assert on[changed] > off[changed] and on[same] == pytest.approx(off[same]), name

    model = VARIANTS["r1"](CONFIG)  # the R1 term itself, against a slope taken without the hook
    real = X
    with tf.GradientTape() as tape:
        tape.watch(real)
        total = ops.sum(model.discriminator([real, Y], training=True))
    slope = tape.gradient(total, real)
    expected = 0.5 * model.r1_gamma * float(np.mean(np.sum(np.square(slope.numpy()), axis=(1, 2, 3))))
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(real)
        logits = model.discriminator([real, Y], training=True)
    step = types_step(real_views=real, real_logits=logits, input_tape=tape)
    assert float(model.extra_discriminator_loss(step)) == pytest.approx(expected, rel=1e-6)


def types_step(**fields):
    from augment_tf.models.gan import GANStep

    return GANStep(**{name: fields.get(name) for name in GANStep._fields})


def test_mode_seeking_pairs_the_labels_it_generates_for():
    model = VARIANTS["mode-seeking"](CONFIG)
    paired = ops.convert_to_numpy(model.generated_labels(ops.convert_to_tensor([0, 1, 2, 0, 1])))
    assert paired.tolist() == [0, 1, 0, 1, 1]


def trained_r1(strategy, steps=2):
    """The R1 variant (tiny, same initial weights and seed) after `steps` plain-SGD steps of batch 8 under `strategy`:
    SGD, so that a loss left unshared or unscaled moves the weights by a factor (Adam would hide it)."""
    keras.utils.set_random_seed(3)
    with strategy.scope():
        model = R1ConditionalGAN(width=4, latent_dim=4, seed=1, num_classes=3, image_shape=(8, 8, 1))
        model.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 1, (16, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 16)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return model


@pytest.mark.slow  # 9 s; the default run keeps the hook on one device and the plain step on two replicas
def test_a_variant_through_the_hook_trains_on_two_replicas_as_on_one_device():
    one = trained_r1(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two = trained_r1(distribute.make_strategy("mirrored", REPLICAS))
    assert two.distribute_strategy.num_replicas_in_sync == REPLICAS
    for a, b in zip(one.variables, two.variables, strict=True):
        np.testing.assert_allclose(np.asarray(b.numpy(), np.float64), np.asarray(a.numpy(), np.float64),
                                   rtol=1e-4, atol=1e-5, err_msg=a.path)


def test_a_variant_through_the_hook_keeps_loss_scaling():
    """Under mixed_float16 the R1 variant's losses are scaled before differentiating: one SGD step moves the
    discriminator as in float32 (else the LossScaleOptimizer's unscaling would shrink it by 2**15)."""
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    keras.utils.set_random_seed(3)
    start = R1ConditionalGAN(width=4, latent_dim=4, seed=1, num_classes=3, image_shape=(8, 8, 1)).discriminator.get_weights()
    reference = trained_r1(one, steps=1)
    try:
        keras.config.set_dtype_policy("mixed_float16")
        half = trained_r1(one, steps=1)
    finally:
        keras.config.set_dtype_policy("float32")
    assert isinstance(half.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert int(half.d_optimizer.iterations.numpy()) == 1  # not skipped
    moved = [np.abs(b - a).sum() for a, b in zip(start, reference.discriminator.get_weights())]
    moved_half = [np.abs(b - a).sum() for a, b in zip(start, half.discriminator.get_weights())]
    np.testing.assert_allclose(moved_half, moved, rtol=0.1)


class LoggedTermGAN(ConditionalGAN):
    """Logs its term on its own, as docs/training.md says a variant may: its own metric, updated in the hook."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.term_tracker = keras.metrics.Mean(name="term")

    @property
    def metrics(self):
        return [*super().metrics, self.term_tracker]

    def extra_generator_loss(self, step):
        term = ops.mean(ops.square(step.fake))
        self.term_tracker.update_state(term)
        return term


def test_a_term_is_logged_on_its_own_only_where_the_variant_asks():
    start = tiny(ConditionalGAN).get_weights()
    plain = first_step(tiny(ConditionalGAN), start)
    logged = first_step(tiny(LoggedTermGAN), start)
    assert set(plain) == {"d_loss", "g_loss"} and set(logged) == {"d_loss", "g_loss", "term"}
    assert logged["g_loss"] - plain["g_loss"] == pytest.approx(logged["term"], abs=1e-6) and logged["term"] > 0
