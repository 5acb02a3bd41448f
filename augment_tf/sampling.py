"""Drawing samples from a trained run's sampler: labels spread over classes, chunks of bounded memory, a preview.

What every output that draws shares (generate, augment, condense, pictures, the benchmarks): one noise stream per
seed, so the same seed gives the same samples whether drawn at once or in chunks. Importing it loads no
TensorFlow, so the commands import it at the top; drawing needs a sampler, and TensorFlow is loaded by then.
"""

import math

import numpy as np

from augment_tf import defaults, images, progress
from augment_tf.errors import AugmentError

CHUNK_BATCHES = 10  # sampler batches drawn at a time: 10k MNIST samples are 31 MB of float outputs


def balanced_labels(n, classes):
    """`n` labels cycling evenly over `classes`, sorted (the first n % k classes get one more)."""
    return np.sort(np.resize(np.asarray(classes, np.int64), n))


def cycling_labels(classes):
    """labels(start, size): sample i gets classes[i % k], so that any stretch of samples holds every class."""
    classes = np.asarray(classes, np.int64)
    return lambda start, size: classes[(start + np.arange(size)) % len(classes)]


def default_temperature(config):
    """The temperature the commands draw a run's samples at: `defaults.TEMPERATURE` of its model family (a --quality
    run's own choice is reported, not used: benchmarks/results/training_budget/HISTORY.md)."""
    return defaults.TEMPERATURE["VAE" if config["model"].endswith("VAE") else "GAN"]


def check_temperature(temperature, flag="temperature"):
    """`temperature` as a float when it is a finite number, 0 or above (0: every draw the mode), else an AugmentError
    naming `flag`."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise AugmentError(f"{flag} scales the latent noise and must be a finite number, 0 or above; got {temperature}")
    return float(temperature)


def noise(rng, n, config, temperature=1.0):
    """`n` latent codes of the run, float32 N(0, temperature^2 I): what the sampler turns into images (for a VAE with a
    fitted prior, the noise that prior scales, so 1 stays the fitted distribution)."""
    return check_temperature(temperature) * rng.standard_normal((n, config["latent_dim"])).astype("float32")


def sample(sampler, config, labels=None, n=None, seed=0, batch_size=1000, temperature=1.0, verbose=False):
    """uint8 images (N, H, W, C) from a run's sampler; a conditional run needs `labels`, an unconditional one `n`.
    `temperature` scales the sampler's standard-normal noise (`noise`): below 1, typical images at the cost of
    variety; above, variety at the cost of typical images."""
    n = len(labels) if labels is not None else n
    labels_of = None if labels is None else (lambda start, size: labels[start:start + size])
    chunks = sample_chunks(sampler, config, n, labels_of, seed, batch_size, temperature, verbose=verbose)
    return np.concatenate([x for x, _ in chunks])


def sample_chunks(sampler, config, n, labels_of=None, seed=0, batch_size=1000, temperature=1.0, skip=0,
                  verbose=False):
    """(uint8 images, labels or None) chunks of the `n` samples `sample` draws, from sample `skip` on; a conditional
    run needs `labels_of(start, size)`, the labels of samples start..start+size-1.

    Chunks of CHUNK_BATCHES batches, so that only one chunk's noise and float outputs are in memory at a time; the
    noise stream is the one a single draw would give (skipped samples' noise is drawn, not decoded). `verbose` shows
    a bar of the samples on stderr."""
    rng, chunk = np.random.default_rng(seed), CHUNK_BATCHES * batch_size
    from keras.utils import Progbar  # loaded with the sampler already: this module's import stays TF-free

    with progress.shown(verbose) as keras_verbose:
        bar = Progbar(n, verbose=keras_verbose, unit_name="sample")
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            z = noise(rng, size, config, temperature)
            first = max(0, skip - start)
            if first < size:
                labels = None if labels_of is None else np.asarray(labels_of(start + first, size - first), np.int64)
                inputs = z[first:] if labels is None else [z[first:], labels.astype(np.int32)]
                yield images.from_model_range(sampler.predict(inputs, batch_size=batch_size, verbose=0),
                                              config["value_range"]), labels
            bar.add(size)


def parse_classes(text, num_classes, flag="--labels"):
    """'3,5,8' -> [3, 5, 8], checked against the run's classes; `flag` names the option in errors."""
    try:
        classes = sorted({int(c) for c in text.split(",") if c.strip()})
    except ValueError:
        raise AugmentError(f"{flag} takes class indices like 3,5,8, got {text!r}") from None
    bad = [c for c in classes if not 0 <= c < num_classes]
    if not classes or bad:
        raise AugmentError(f"{flag}: classes must be in 0..{num_classes - 1}, got {text!r}")
    return classes


def preview(x, y, per_row=10):
    """A grid of up to 10 samples per class (one row each), or the first 100 samples."""
    if y is None:
        return images.grid(x[: per_row * per_row], rows=max(1, -(-min(len(x), 100) // per_row)))
    rows = [x[y == c][:per_row] for c in np.unique(y)]
    padded = [np.concatenate([r, np.full((per_row - len(r), *x.shape[1:]), 255, np.uint8)]) for r in rows]
    return images.grid(np.concatenate(padded), rows=len(rows))
