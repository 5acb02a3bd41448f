"""VAE and class-conditional VAE (Kingma & Welling 2014): Bernoulli pixels, Gaussian latent, the ELBO.

The loss per image is the binary cross-entropy of the decoder's logits summed over pixels (the negative
Bernoulli log-likelihood, with grayscale values in [0, 1] as targets) plus `beta` times the analytic
KL(q(z|x) || N(0, I)); `beta` lives in a variable so that `KLAnnealing` can ramp it up.
"""

import typing

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from augment_tf.models import networks, replicas
from augment_tf.models.base import ClassConditional, GenerativeModel, apply_gradients, unpack_batch


class VAEStep(typing.NamedTuple):
    """What a training step computed, for `VAE.extra_loss` to add a term from."""

    images: object  # what the step trained on: the batch, or with `augment` its random views (input and target)
    labels: object  # their labels (None if unconditional)
    noise: object  # the standard-normal draw of the reparameterisation, z = mean + sigma * noise
    reconstruction: object  # the batch's mean reconstruction loss
    kl: object  # the batch's mean KL(q(z|x) || N(0, I)), before the `beta` weight


@keras.saving.register_keras_serializable(package="augment_tf")
class VAE(GenerativeModel):
    """Unconditional VAE on images scaled to [0, 1]; `fit` it on batches of images (labels ignored).

    With `augment`, it trains on a random shift/rotation/zoom of each image (test_step on the images as they are).
    A variant adds a loss term by overriding `extra_loss` (docs/training.md).
    """

    value_range = (0.0, 1.0)

    def __init__(self, image_shape=(28, 28, 1), latent_dim=16, width=64, beta=1.0, seed=None, augment=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.width = width
        self.target_beta = float(beta)
        self.seed = seed
        self.augment = augment
        self.beta = keras.Variable(self.target_beta, trainable=False, dtype="float32", name="beta")
        self.encoder = networks.encoder(self.image_shape, latent_dim, self.num_classes, width)
        self.decoder = networks.upsampler(
            self.image_shape, latent_dim, self.num_classes, width, activation=None, name="decoder_logits"
        )
        image = layers.Activation("sigmoid", name="image")(self.decoder.output)
        self.image_decoder = keras.Model(self.decoder.input, image, name="decoder")
        self.prior = networks.latent_prior(latent_dim, self.num_classes)
        self.prior.trainable = False  # fitted after training by `fit_latent_prior`, not by gradients
        cond = self.prior.inputs[1:]
        self.prior_decoder = keras.Model(
            self.prior.inputs, self.image_decoder(self._inputs(self.prior.output, cond)), name="sampler"
        )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")
        self.built = True

    def get_config(self):
        return {**super().get_config(), "beta": self.target_beta}

    def export_models(self):
        """The standalone models a run saves: sampler noise (+ label) -> image through the prior, decoder
        z (+ label) -> image in [0, 1], encoder image (+ label) -> [mean, log_var]."""
        return {"sampler.keras": networks.portable(self.prior_decoder),
                "decoder.keras": networks.portable(self.image_decoder), "encoder.keras": networks.portable(self.encoder)}

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    @property
    def sampler(self):
        """The network `generate` samples with: prior noise -> z -> image."""
        return self.prior_decoder

    def compile(self, optimizer=None, jit_compile="auto", **kwargs):
        """Adam(1e-3) by default; jit_compile 'auto'|True|False."""
        self._compile_with({"optimizer": optimizer or keras.optimizers.Adam(1e-3)}, jit_compile, **kwargs)

    def _optimized_variables(self):
        return {"optimizer": self.trainable_variables}

    def elbo_terms(self, images, cond, noise, training=False):
        """(reconstruction loss, KL) averaged over the batch, with z = mean + sigma * noise."""
        mean, log_var = (ops.cast(t, "float32") for t in self.encoder(self._inputs(images, cond), training=training))
        z = mean + ops.exp(0.5 * log_var) * noise
        logits = ops.cast(self.decoder(self._inputs(z, cond), training=training), "float32")  # losses in float32
        bce = ops.binary_crossentropy(images, logits, from_logits=True)
        reconstruction = ops.mean(ops.sum(ops.reshape(bce, (ops.shape(bce)[0], -1)), axis=1))
        kl = ops.mean(-0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=1))
        return reconstruction, kl

    def train_step(self, data):
        images, labels = unpack_batch(data)
        images = self._view(images)  # with `augment`, a randomly moved copy is both input and target
        cond = self._conditioning(labels)
        noise = self._noise(ops.shape(images)[0])
        with tf.GradientTape() as tape:
            reconstruction, kl = self.elbo_terms(images, cond, noise, training=True)
            loss = reconstruction + self.beta * kl + self.extra_loss(VAEStep(images, labels, noise, reconstruction, kl))
            # On the tape: Keras sums the replicas' gradients; a loss-scaling optimizer scales the loss.
            share = self.optimizer.scale_loss(replicas.share(loss))
        apply_gradients(self.optimizer, tape.gradient(share, self.trainable_variables), self.trainable_variables)
        return self._track(loss, reconstruction, kl)

    def extra_loss(self, step):
        """A term added to the training loss (the negative ELBO), from the step's tensors (`VAEStep`): 0 here; a
        variant overrides it. Computed on the tape, so its gradient counts, scaled and shared as the loss is;
        `test_step` reports the plain negative ELBO."""
        return 0.0

    def test_step(self, data):
        images, labels = unpack_batch(data)
        reconstruction, kl = self.elbo_terms(images, self._conditioning(labels), self._noise(ops.shape(images)[0]))
        return self._track(reconstruction + self.beta * kl, reconstruction, kl)

    def _track(self, loss, reconstruction, kl):
        self.loss_tracker.update_state(replicas.global_mean(loss))
        self.reconstruction_tracker.update_state(replicas.global_mean(reconstruction))
        self.kl_tracker.update_state(replicas.global_mean(kl))
        return self._logs()

    def encode(self, x, labels=None, batch_size=500):
        """(mean, log_var) of q(z|x) as numpy arrays (N, latent_dim) for images `x` in [0, 1]."""
        mean, log_var = self._predict(self.encoder, x, labels, batch_size)
        return mean, log_var

    def decode(self, z, labels=None, batch_size=500):
        """Images in [0, 1] (pixel means of p(x|z)) as numpy (N, H, W, C)."""
        return self._predict(self.image_decoder, z, labels, batch_size)

    def sample(self, n, labels=None, seed=None):
        """`n` images in [0, 1] decoded from prior draws (a conditional model needs `n` labels)."""
        return self.generate(self.latent(n, seed), labels)

    def fit_latent_prior(self, x01, labels=None, batch_size=500):
        """Moment-matches the prior (per class) to the aggregate posterior of images `x01`; sampling then avoids
        regions of N(0, I) the encoder never uses (ex-post density estimation, Ghosh et al. 2020)."""
        labels = None if self.num_classes is None else np.asarray(labels)
        self.fit_latent_prior_to(((x01[i:i + batch_size], None if labels is None else labels[i:i + batch_size])
                                  for i in range(0, len(x01), batch_size)))

    def fit_latent_prior_to(self, chunks):
        """`fit_latent_prior` on images that come in (x01, labels) chunks, for more images than memory holds: the
        posterior means' sums and outer products are accumulated per class, in float64."""
        sums = {}  # class (None: every image) -> [count, sum of means, sum of outer products, sum of variances]
        for x01, labels in chunks:
            labels = None if self.num_classes is None else np.asarray(labels)
            mean, log_var = (v.astype(np.float64) for v in self.encode(x01, labels))
            groups = {None: slice(None)} if labels is None else {c: labels == c for c in np.unique(labels)}
            for c, rows in groups.items():
                m, total = mean[rows], sums.setdefault(c, [0, 0.0, 0.0, 0.0])
                total[0] += len(m)
                total[1] += m.sum(axis=0)
                total[2] += m.T @ m
                total[3] += np.exp(log_var[rows]).sum(axis=0)
        for c, (n, total, outer, variance) in sums.items():
            m = total / n
            spread = (outer - n * np.outer(m, m)) / max(n - 1, 1)  # one image: no spread, only its posterior's own
            scale = np.linalg.cholesky(spread + np.diag(variance / n) + 1e-6 * np.eye(self.latent_dim))
            if c is None:
                self.prior.get_layer("prior_affine").set_weights([scale.T, m])
            else:
                for layer, value in (("prior_mean", m), ("prior_scale", scale.ravel())):
                    table = self.prior.get_layer(layer).embeddings
                    rows_of_table = ops.convert_to_numpy(table).copy()  # in numpy: ops.slice_update compiles XLA
                    rows_of_table[int(c)] = value
                    table.assign(rows_of_table)

    def reconstruct(self, x, labels=None, batch_size=500):
        """Images in [0, 1] decoded from the posterior mean of each input image."""
        return self.decode(self.encode(x, labels, batch_size)[0], labels, batch_size)

    def log_likelihood_bound(self, x, labels=None, samples=1, seed=0, batch_size=500):
        """Per-image lower bound on log p(x) in nats: the ELBO (analytic KL) for samples=1, else the
        importance-weighted bound with `samples` draws from q(z|x) (Burda et al. 2016)."""
        x = np.asarray(x, np.float32)
        rng = np.random.default_rng(seed)
        cond_all = [] if self.num_classes is None else [self._check_labels(labels, len(x))]
        bounds = []
        for start in range(0, len(x), batch_size):
            images, cond = x[start : start + batch_size], [c[start : start + batch_size] for c in cond_all]
            mean, log_var = (ops.convert_to_numpy(t) for t in self.encoder(self._inputs(images, cond)))
            kl = -0.5 * np.sum(1.0 + log_var - mean**2 - np.exp(log_var), axis=1)
            weights = []
            for _ in range(samples):
                noise = rng.standard_normal(mean.shape).astype(np.float32)
                z = mean + np.exp(0.5 * log_var) * noise
                # log p(z) - log q(z|x), the Gaussians' 2*pi constants cancelling; its mean, -KL, is exact for samples=1.
                log_ratio = -kl if samples == 1 else -0.5 * np.sum(z**2 - noise**2 - log_var, axis=1)
                weights.append(self._log_px(images, cond, z) + log_ratio)
            weights = np.stack(weights)
            peak = weights.max(axis=0)
            bounds.append(peak + np.log(np.mean(np.exp(weights - peak), axis=0)))
        return np.concatenate(bounds)

    def _log_px(self, images, cond, z):
        """log p(x|z) per image: minus the binary cross-entropy of the decoder's logits, summed over pixels."""
        logits = self.decoder(self._inputs(z, cond))
        bce = ops.convert_to_numpy(ops.binary_crossentropy(images, logits, from_logits=True))
        return -bce.reshape(len(images), -1).sum(axis=1).astype(np.float64)


@keras.saving.register_keras_serializable(package="augment_tf")
class ConditionalVAE(ClassConditional, VAE):
    """VAE whose encoder and decoder both take integer labels; `fit` on (image, label)."""


def _first(chunks, limit):
    """The (x, labels) chunks up to the one that brings the images to `limit`."""
    seen = 0
    for chunk in chunks:
        yield chunk
        seen += len(chunk[0])
        if seen >= limit:
            return


class FitLatentPrior(keras.callbacks.Callback):
    """At the end of training, fits the VAE's prior to the aggregate posterior of `x01` (see `fit_latent_prior`), or
    of the (x01, labels) chunks that `chunks()` yields, for images streamed rather than held (`fit_latent_prior_to`)."""

    PREPARE_IMAGES = 10_000  # images the prior is fitted to mid-training (`prepare_sampler`)

    def __init__(self, x01=None, labels=None, *, chunks=None):
        super().__init__()
        if (x01 is None) == (chunks is None):
            raise ValueError("FitLatentPrior takes images x01 or a chunks function, not both")
        self.x01, self.labels, self.chunks = x01, labels, chunks

    def on_train_end(self, logs=None):
        self.fit_prior(self.model)

    def fit_prior(self, model, limit=None):
        """Fits `model`'s prior to the images, or to the first `limit` or so of them."""
        if self.chunks is not None:
            model.fit_latent_prior_to(_first(self.chunks(), limit) if limit else self.chunks())
        else:
            labels = self.labels if model.num_classes else None
            model.fit_latent_prior(self.x01[:limit], None if labels is None else labels[:limit])

    def prepare_sampler(self, model):
        """Readies `model`'s sampler mid-training, for a `QualityMonitor`: the prior fitted to the first
        PREPARE_IMAGES images (the full fit comes at the end)."""
        self.fit_prior(model, self.PREPARE_IMAGES)


class KLAnnealing(keras.callbacks.Callback):
    """Ramps the KL weight linearly from 0 to the model's `target_beta` over the first `epochs` or `steps`.

    Warm-up keeps the posterior from collapsing onto the prior early (Bowman et al. 2016). The ramp follows
    the optimizer's step count, so a resumed run continues it where the interrupted one stopped.
    """

    def __init__(self, epochs=None, steps=None):
        super().__init__()
        if (epochs is None) == (steps is None):
            raise ValueError("KLAnnealing takes epochs or steps, not both")
        self.epochs, self.steps = epochs, steps

    def on_train_begin(self, logs=None):
        self.total = self.steps or self.epochs * self.params["steps"]
        self.done = False

    def on_train_batch_begin(self, batch, logs=None):
        if self.done:
            return
        progress = min(1.0, int(self.model.optimizer.iterations.numpy()) / max(self.total, 1))
        self.model.beta.assign(self.model.target_beta * progress)
        self.done = progress >= 1.0
