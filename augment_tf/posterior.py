"""The posterior over a VAE's latent space given a partial or noisy view of an image, and the clean image it
implies: what the `impute` (missing pixels), `denoise` (Gaussian noise) and `encode` commands call.

An observation model says how the view arose from the clean image: `log_likelihood` scores the view against the
decoder's pixel probabilities `p` (one z per image), and `estimate` is the clean image's mean given the view and `p`
(`MissingPixels` in numpy, for the chain; `GaussianNoise` in TF ops, for the search, with its noise level as an
argument that the search may fit).
Two ways to reach the posterior: `posterior_mean` runs a Metropolis-within-Gibbs chain on z (Mattei & Frellsen 2018)
and averages `estimate` over its proposals with importance weights; `code_search` climbs to the most probable z by
gradient ascent, far faster where the encoder, never shown such views, starts far from it.
"""

import keras
import numpy as np
import tensorflow as tf

from augment_tf import defaults, progress

PROPOSALS = 5  # latent proposals per iteration, all of them importance-weighted
SPREAD = 1.5  # proposal standard deviation relative to the encoder's: heavier tails, steadier weights
EPS = 1e-6
START_LEVELS = np.geomspace(0.02, 0.8, 16)  # an unknown noise level starts from the best of these, under the first code


class MissingPixels:
    """Observed pixels as the VAE's Bernoulli likelihood scores them; missing ones carry no evidence and are filled."""

    def __init__(self, x, observed):
        self.x, self.observed = x, observed

    def start(self):
        return np.where(self.observed, self.x, 0.0)

    def log_likelihood(self, p):
        p = np.clip(p, EPS, 1 - EPS)
        log_px = np.where(self.observed, self.x * np.log(p) + (1 - self.x) * np.log1p(-p), 0.0)
        return log_px.reshape(len(p), -1).sum(axis=1)

    def estimate(self, p):
        return np.where(self.observed, self.x, p)


class GaussianNoise:
    """Pixels seen through additive Gaussian noise of std sigma, clipped to [0, 1] when `clipped` (what saving noisy
    images as uint8 does). Given z, a clean pixel has the decoder's mean p and its Bernoulli variance p(1 - p): the
    view is N(p, p(1 - p) + sigma^2) where it lies inside (0, 1), and a clipped value the mass beyond; the clean
    pixel's estimate weighs view and decoder by their variances, so low noise keeps the view's detail.
    `observed` (optional): pixels missing from the view carry no evidence. Sigma, one per image, is an argument of
    `log_likelihood` (as its log, which `code_search` may fit) and of `estimate`."""

    def __init__(self, y, observed=None, clipped=True):
        self.y = np.asarray(y, np.float32)
        self.observed = np.ones(self.y.shape, bool) if observed is None else np.asarray(observed, bool)
        low, high = (self.y <= 0, self.y >= 1) if clipped else (np.zeros(self.y.shape, bool),) * 2
        self.low, self.high = low & self.observed, high & self.observed

    def start(self):
        return np.where(self.observed, np.clip(self.y, 0, 1), 0.0).astype(np.float32)

    def data(self, rows):
        """The view's arrays for `rows`, in the order `log_likelihood` takes them after p and log sigma."""
        return tuple(a[rows] for a in (self.y, self.observed, self.low, self.high))

    @staticmethod
    def log_likelihood(p, log_sigma, y, observed, low, high):
        """log p(view | p) per image (tensors; log_sigma (N,))."""
        total = p * (1 - p) + tf.reshape(tf.exp(2 * log_sigma), [-1] + [1] * (len(p.shape) - 1))
        scale = tf.sqrt(total)
        inside = -0.5 * ((y - p) ** 2 / total + tf.math.log(2 * np.pi * total))
        log_px = tf.where(low, _log_ndtr(-p / scale), tf.where(high, _log_ndtr((p - 1) / scale), inside))
        return tf.reduce_sum(tf.reshape(tf.where(observed, log_px, 0.0), [tf.shape(p)[0], -1]), axis=1)

    def estimate(self, p, sigma, rows=slice(None)):
        """The clean image's mean given the view's `rows` and the decoder's p (numpy), at noise std `sigma` (N,)."""
        y, observed, low, high = self.data(rows)
        clean_variance = p * (1 - p)
        variance = np.reshape(sigma, (-1,) + (1,) * (p.ndim - 1)) ** 2
        weighed = (clean_variance * y + variance * p) / np.maximum(clean_variance + variance, EPS)
        seen = observed & ~low & ~high  # a clipped view says only which side the pixel is on
        return np.clip(np.where(seen, weighed, p), 0.0, 1.0)


def _log_ndtr(t):
    """log Phi(t), with the asymptotic series below -5 where Phi underflows float32."""
    tail = tf.minimum(t, -5.0)
    series = -0.5 * tail**2 - tf.math.log(-tail) - 0.5 * np.log(2 * np.pi) + tf.math.log1p(-1 / tail**2)
    return tf.where(t > -5.0, tf.math.log(0.5 * tf.math.erfc(-tf.maximum(t, -5.0) / np.sqrt(2.0))), series)


def code_search(decoder, log_likelihood, steps, learning_rate):
    """A compiled function (z, theta, fit_theta, cond, data) -> (z, theta, log joint, p): `steps` of Adam ascending
    log_likelihood(p, theta, *data) + log N(z; 0, I), p = decoder(z, *cond), from the start z (N, d) and the view's
    parameter theta (N,) (e.g. log sigma), which moves only where `fit_theta` is 1.0. One compilation per batch
    shape."""
    beta_1, beta_2, epsilon = 0.9, 0.999, 1e-7  # Keras's Adam defaults, written out: the loop is one XLA program

    def log_joint(z, theta, cond, data):
        p = decoder([z, *cond] if cond else z, training=False)
        return log_likelihood(p, theta, *data) - 0.5 * tf.reduce_sum(z**2, axis=1), p

    @tf.function(jit_compile=True)
    def search(z, theta, fit_theta, cond, data):
        params = [z, theta]
        moments = [[tf.zeros_like(v) for v in params] for _ in range(2)]
        for step in tf.range(1, steps + 1, dtype=tf.float32):
            with tf.GradientTape() as tape:
                tape.watch(params)
                total = tf.reduce_sum(log_joint(*params, cond, data)[0])
            grad_z, grad_theta = tape.gradient(total, params, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            grads = [grad_z, grad_theta * fit_theta]
            moments[0] = [beta_1 * m + (1 - beta_1) * g for m, g in zip(moments[0], grads)]
            moments[1] = [beta_2 * v + (1 - beta_2) * g**2 for v, g in zip(moments[1], grads)]
            rate = learning_rate * tf.sqrt(1 - beta_2**step) / (1 - beta_1**step)
            params = [v + rate * m / (tf.sqrt(s) + epsilon) for v, m, s in zip(params, *moments)]
        log_p, p = log_joint(*params, cond, data)
        return params[0], params[1], log_p, p

    return search


def posterior_mean(encoder, decoder, view, cond, iterations, rng, bar=None):
    """E[clean image | view] (N, H, W, C) for one batch under the observation model `view`; `bar` counts iterations.

    The chain only steers the proposals; the mean is `view.estimate` averaged over every proposal with importance
    weight p(view, z) / proposal density, a self-normalised estimate that the chain (stuck in one mode for long
    stretches) gives poorly. `encoder` maps images (+ labels) to [mean, log_var]; `decoder` z (+ labels) to p."""
    inputs = lambda first: [first, *cond] if cond else first
    decode = lambda z: np.asarray(decoder(inputs(z.astype(np.float32)), training=False), np.float32)

    def proposal(estimate):
        """(mean, log_var) of the widened encoder Gaussian for a clean-image estimate."""
        mean, log_var = [np.asarray(t, np.float64) for t in encoder(inputs(estimate.astype(np.float32)),
                                                                     training=False)]
        return mean, log_var + 2 * np.log(SPREAD)

    def log_joint(z, p):
        return view.log_likelihood(p) - 0.5 * np.sum(z**2, axis=1)

    def log_density(z, mean, log_var):
        return -0.5 * np.sum((z - mean) ** 2 / np.exp(log_var) + log_var, axis=1)

    z = proposal(view.start())[0]
    p = decode(z)
    current = proposal(view.estimate(p))
    target = log_joint(z, p)
    n = len(z)
    log_weights, weighted = np.full(n, -np.inf), np.zeros(p.shape, np.float64)
    for _ in range(iterations):
        for k in range(PROPOSALS):
            candidate = current[0] + np.exp(0.5 * current[1]) * rng.standard_normal(current[0].shape)
            candidate_p = decode(candidate)
            candidate_target = log_joint(candidate, candidate_p)
            # running self-normalised sum, kept in log space against overflow
            log_w = candidate_target - log_density(candidate, *current)
            top = np.maximum(log_weights, log_w)
            old, new = np.exp(log_weights - top), np.exp(log_w - top)
            shape = (n,) + (1,) * (p.ndim - 1)
            weighted = (weighted * old.reshape(shape) + view.estimate(candidate_p) * new.reshape(shape))
            weighted /= (old + new).reshape(shape)
            log_weights = top + np.log(old + new)
            if k == 0:  # the Metropolis-Hastings move uses the first proposal
                reverse = proposal(view.estimate(candidate_p))
                log_ratio = (candidate_target + log_density(z, *reverse)) - (
                    target + log_density(candidate, *current))
                accept = np.log(rng.random(n)) < log_ratio
                z = np.where(accept[:, None], candidate, z)
                target = np.where(accept, candidate_target, target)
                current = [np.where(accept[:, None], after, before) for after, before in zip(reverse, current)]
        if bar is not None:
            bar.add(1)
    return weighted.astype(np.float32)


def batched(encoder, decoder, x, labels, view_of, iterations, seed=0, batch_size=1000, verbose=False):
    """`posterior_mean` over `x` in batches (N, ...) float32; `view_of(rows)` is the observation model of a batch's
    rows (a slice). `verbose` shows a bar of every batch's iterations on stderr."""
    rng = np.random.default_rng(seed)
    means = np.empty(np.shape(x), np.float32)
    with progress.shown(verbose) as keras_verbose:
        bar = keras.utils.Progbar(-(-len(x) // batch_size) * iterations, verbose=keras_verbose, unit_name="iteration")
        for start in range(0, len(x), batch_size):
            rows = slice(start, start + batch_size)
            cond = [] if labels is None else [np.asarray(labels, np.int32)[rows]]
            means[rows] = posterior_mean(encoder, decoder, view_of(rows), cond, iterations, rng, bar)
    return means


# --- what the commands call: the encoder's codes, missing pixels filled, noise removed ---


def encode(encoder, x01, labels=None, batch_size=1000):
    """(mean, log_var) float32 (N, latent_dim) of images `x01` in [0, 1] (+ labels for a conditional encoder)."""
    parts = []
    for start in range(0, len(x01), batch_size):
        images = np.asarray(x01[start:start + batch_size], np.float32)
        inputs = images if labels is None else [images, np.asarray(labels[start:start + batch_size], np.int32)]
        parts.append([np.asarray(t, np.float32) for t in encoder(inputs, training=False)])
    return tuple(np.concatenate(p) for p in zip(*parts))


def impute(encoder, decoder, x01, mask, labels=None, iterations=defaults.IMPUTE_ITERATIONS, seed=0, batch_size=1000,
           verbose=False):
    """Float images (N, H, W, C) in [0, 1]: observed pixels of `x01` kept, missing ones their posterior mean
    (`posterior_mean` under `MissingPixels`: the encoder never saw missing pixels, so the chain
    steers its proposals). `encoder` maps images (+ labels) to [mean, log_var]; `decoder` maps z (+ labels) to
    pixel probabilities. `verbose` shows a bar of the iterations of every batch on stderr."""
    x01, mask = np.asarray(x01, np.float32), np.asarray(mask).astype(bool)
    return np.where(mask, x01, batched(
        encoder, decoder, x01, labels, lambda part: MissingPixels(x01[part], mask[part]), iterations, seed,
        batch_size, verbose))


def denoise(encoder, decoder, x01, noise_std=None, labels=None, num_classes=None, observed=None, clipped=True,
            steps=defaults.DENOISE_STEPS, learning_rate=defaults.DENOISE_LEARNING_RATE, batch_size=1000, verbose=False):
    """(denoised images in [0, 1], the noise std per image): each image's most probable code given the noisy view
    (`code_search`, started from the encoder's code for the view), then the clean image's mean given that
    code and the view (`GaussianNoise.estimate`).

    `noise_std` is a number or one per image; when None, each image's is fitted with its code (its log, by the same
    ascent, from the best of START_LEVELS under the encoder's code). A conditional decoder needs `labels`, or
    `num_classes` to search under every class and weigh the results by the softmax of their log joint, which in
    practice picks the class that explains the view best."""
    x01 = np.asarray(x01, np.float32)
    view = GaussianNoise(x01, observed, clipped)
    search = code_search(decoder, view.log_likelihood, steps, learning_rate)
    best_level = _best_level(decoder, view.log_likelihood)
    fit = noise_std is None
    given = None if fit else np.broadcast_to(np.asarray(noise_std, np.float64), (len(x01),))
    per_class = labels is None and num_classes
    classes = [np.full(len(x01), c) for c in range(num_classes)] if per_class else [labels]
    size, starts = min(batch_size, len(x01)), view.start()
    clean, sigma = np.empty(x01.shape, np.float32), np.empty(len(x01))
    with progress.shown(verbose) as keras_verbose:
        bar = keras.utils.Progbar(len(x01) * len(classes), verbose=keras_verbose, unit_name="image")
        for begin in range(0, len(x01), size):
            rows = slice(begin, begin + size)
            n = len(x01[rows])
            pad = lambda a: np.concatenate([a, np.repeat(a[:1], size - n, axis=0)])  # one compiled shape for all
            data, start = tuple(pad(a) for a in view.data(rows)), pad(starts[rows])
            found = []  # (log joint, sigma, clean estimate) under each class
            for class_labels in classes:
                cond = [] if class_labels is None else [pad(np.asarray(class_labels, np.int32)[rows])]
                z = encoder([start, *cond] if cond else start, training=False)[0]
                log_sigma = best_level(z, cond, data) if fit else np.log(pad(given[rows])).astype(np.float32)
                _, fitted, log_joint, p = search(z, log_sigma, float(fit), cond, data)
                level = np.exp(np.asarray(fitted, np.float64)[:n])
                found.append((np.asarray(log_joint, np.float64)[:n], level,
                              view.estimate(np.asarray(p, np.float64)[:n], level, rows)))
                bar.add(n)
            log_joints = np.stack([f[0] for f in found])
            weights = np.exp(log_joints - log_joints.max(axis=0))
            weights /= weights.sum(axis=0)
            clean[rows] = sum(w.reshape((n,) + (1,) * (x01.ndim - 1)) * f[2] for w, f in zip(weights, found))
            sigma[rows] = sum(w * f[1] for w, f in zip(weights, found))
    return clean, sigma if fit else given.copy()


def _best_level(decoder, log_likelihood):
    """A compiled function (z, cond, data) -> log sigma per image: the best of START_LEVELS under the codes z, where
    the search for an unknown level starts (in a few steps the ascent alone falls short at high noise)."""
    @tf.function(jit_compile=True)
    def best(z, cond, data):
        p = decoder([z, *cond] if cond else z, training=False)
        log_levels = np.log(START_LEVELS).astype(np.float32)
        scores = tf.stack([log_likelihood(p, tf.fill([tf.shape(z)[0]], level), *data) for level in log_levels])
        return tf.gather(log_levels, tf.argmax(scores, axis=0))

    return best
