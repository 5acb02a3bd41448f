"""The posterior over a VAE's latent space given a partial or noisy view of an image, and the posterior mean of the
image it implies: what `impute` (missing pixels) and `denoise` (Gaussian noise) share.

An observation model says how the view arose from the clean image: `log_likelihood(p)` scores the view against the
decoder's pixel probabilities `p` (one z per image), and `estimate(p)` is the clean image's mean given the view and
`p`. `posterior_mean` runs a Metropolis-within-Gibbs chain on z (Mattei & Frellsen 2018) whose proposals come from
the encoder shown the current estimate, and averages `estimate` over every proposal with importance weights.
"""

import keras
import numpy as np
from scipy.special import log_ndtr

from augment_tf import progress

PROPOSALS = 5  # latent proposals per iteration, all of them importance-weighted
SPREAD = 1.5  # proposal standard deviation relative to the encoder's: heavier tails, steadier weights
EPS = 1e-6


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
    """Pixels seen through additive Gaussian noise of std `sigma` (N,), clipped to [0, 1] when `clipped` (what saving
    noisy images as uint8 does). Given z, a clean pixel has the decoder's mean p and its Bernoulli variance p(1 - p):
    the view is N(p, p(1 - p) + sigma^2) where it lies inside (0, 1), and a clipped value the mass beyond; the
    clean pixel's estimate weighs view and decoder by their variances, so low noise keeps the view's detail.
    `observed` (optional): pixels missing from the view carry no evidence."""

    def __init__(self, y, sigma, observed=None, clipped=True):
        self.y, self.observed = y, np.ones(y.shape, bool) if observed is None else observed
        self.variance = np.asarray(sigma, np.float64).reshape(-1, *[1] * (y.ndim - 1)) ** 2
        low, high = (y <= 0, y >= 1) if clipped else (np.zeros(y.shape, bool),) * 2
        self.low, self.high = low & self.observed, high & self.observed

    def start(self):
        return np.where(self.observed, np.clip(self.y, 0, 1), 0.0)

    def log_likelihood(self, p):
        total = p * (1 - p) + self.variance
        scale = np.sqrt(total)
        inside = -0.5 * ((self.y - p) ** 2 / total + np.log(2 * np.pi * total))
        log_px = np.where(self.low, log_ndtr(-p / scale), np.where(self.high, log_ndtr((p - 1) / scale), inside))
        return np.where(self.observed, log_px, 0.0).reshape(len(p), -1).sum(axis=1)

    def estimate(self, p):
        clean_variance = p * (1 - p)
        weighed = (clean_variance * self.y + self.variance * p) / (clean_variance + self.variance + EPS)
        seen = self.observed & ~self.low & ~self.high  # a clipped view says only which side the pixel is on
        return np.clip(np.where(seen, weighed, p), 0.0, 1.0)


def posterior_mean(encoder, decoder, view, cond, iterations, rng, bar=None, also=()):
    """E[clean image | view] (N, H, W, C) for one batch under the observation model `view`, the log of the importance
    weights' mean (an estimate of log p(view) per image), and the same estimate for each model of `also` (other
    noise levels, say) from the same proposals: (len(also), N). `bar` counts iterations.

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
    log_weights, weighted, count = np.full(n, -np.inf), np.zeros(p.shape, np.float64), 0
    log_also = np.full((len(also), n), -np.inf)
    for _ in range(iterations):
        for k in range(PROPOSALS):
            candidate = current[0] + np.exp(0.5 * current[1]) * rng.standard_normal(current[0].shape)
            candidate_p = decode(candidate)
            candidate_target = log_joint(candidate, candidate_p)
            # running self-normalised sum, kept in log space against overflow
            log_w = candidate_target - log_density(candidate, *current)
            if also:
                log_prior_q = -0.5 * np.sum(candidate**2, axis=1) - log_density(candidate, *current)
                log_also = np.logaddexp(log_also, [m.log_likelihood(candidate_p) + log_prior_q for m in also])
            top = np.maximum(log_weights, log_w)
            old, new = np.exp(log_weights - top), np.exp(log_w - top)
            shape = (n,) + (1,) * (p.ndim - 1)
            weighted = (weighted * old.reshape(shape) + view.estimate(candidate_p) * new.reshape(shape))
            weighted /= (old + new).reshape(shape)
            log_weights, count = top + np.log(old + new), count + 1
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
    return weighted.astype(np.float32), log_weights - np.log(count), log_also - np.log(count)


def batched(encoder, decoder, x, labels, view_of, iterations, seed=0, batch_size=1000, verbose=False, also_of=None):
    """`posterior_mean` over `x` in batches: (means (N, ...) float32, log p(view) (N,), log p under the models of
    `also_of(rows)` (K, N)); `view_of(rows)` is the observation model of a batch's rows (a slice). `verbose` shows a
    bar of every batch's iterations on stderr."""
    rng = np.random.default_rng(seed)
    means, log_evidence = np.empty(np.shape(x), np.float32), np.empty(len(x))
    log_also = np.empty((len(also_of(slice(0, 1))) if also_of else 0, len(x)))
    with progress.shown(verbose) as keras_verbose:
        bar = keras.utils.Progbar(-(-len(x) // batch_size) * iterations, verbose=keras_verbose, unit_name="iteration")
        for start in range(0, len(x), batch_size):
            rows = slice(start, start + batch_size)
            cond = [] if labels is None else [np.asarray(labels, np.int32)[rows]]
            also = also_of(rows) if also_of else ()
            means[rows], log_evidence[rows], log_also[:, rows] = posterior_mean(
                encoder, decoder, view_of(rows), cond, iterations, rng, bar, also)
    return means, log_evidence, log_also
