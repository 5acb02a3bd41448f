"""Real and synthetic samples mixed on the fly: a `tf.data` pipeline for `classifier.fit`, no file written.

    sampler, config = runs.load_sampler("runs/cgan")
    x, y = data.load_arrays("mnist", "train", data_dir)
    classifier.fit(mixed_dataset(sampler, config, x, y, seed=0), epochs=5)
"""

import numpy as np
import tensorflow as tf

from augment_tf import amounts, checks, data, images, sampling
from augment_tf.errors import AugmentError

# Chosen on the validation split with 10 and 50 real images a class, classical augmentation on (benchmarks/README.md,
# "The mixing share"): 10% and 25% tied, 50% lost; a tie goes to the smaller share.
SYNTHETIC_FRACTION = 0.1


def mixed_dataset(sampler, config, x_real, y_real, *, synthetic_fraction=SYNTHETIC_FRACTION, batch_size=128,
                  classes=None, seed=None, temperature=1.0):
    """Batches of (float32 images (B, H, W, C) in 0..255, int64 labels (B,)), each exactly
    `round(synthetic_fraction * batch_size)` synthetic samples after the real ones.

    Synthetic samples come fresh from `sampler` (a conditional generator or decoder: [z, labels] -> images in
    `config["value_range"]`; `config` also gives `latent_dim` and `num_classes`, as a run's config does), with
    labels uniform over `classes` (default: all). Images are raw 0..255 like `reference.build_classifier` takes;
    synthetic ones are rounded to whole levels, as if stored as uint8. An epoch is one pass over the real data,
    shuffled (as many passes as fill one batch, if the real data are fewer); the noise never repeats across
    epochs. A `seed` fixes the real order and the noise; `temperature` scales it (`sampling.noise`).
    """
    num_classes, temperature = amounts.run_classes(config), sampling.check_temperature(temperature)
    n_synthetic = int(round(synthetic_fraction * batch_size))
    n_real = batch_size - n_synthetic
    if not 0 <= synthetic_fraction < 1 or n_real == 0:
        raise AugmentError(f"synthetic_fraction must be in [0, 1) and leave real samples in a batch of {batch_size}, "
                         f"got {synthetic_fraction}")
    classes = np.arange(num_classes) if classes is None else np.asarray(classes, np.int64)
    if classes.size == 0 or classes.min() < 0 or classes.max() >= num_classes:
        raise AugmentError(f"classes must be in 0..{num_classes - 1}, got {classes.tolist()}")
    x_real, y_real = checks.real_images(x_real, y_real, config)
    copies = -(-n_real // len(x_real))  # a real set smaller than a batch's real part is repeated to fill it
    x_real, y_real = np.concatenate([x_real] * copies), np.concatenate([y_real] * copies)
    real = data.make_dataset(x_real, y_real, n_real, seed=seed, value_range=(0.0, 255.0))
    if n_synthetic == 0:
        return real
    rng = np.random.default_rng(seed)  # shared by every iteration: each epoch continues the noise stream

    def draw():
        while True:
            labels = rng.choice(classes, n_synthetic)
            z = temperature * rng.standard_normal((n_synthetic, config["latent_dim"]), dtype=np.float32)
            x = sampler.predict_on_batch([z, labels.astype(np.int32)])
            yield images.from_model_range(x, config["value_range"]).astype(np.float32), labels

    synthetic = tf.data.Dataset.from_generator(draw, output_signature=(
        tf.TensorSpec((n_synthetic, *x_real.shape[1:]), tf.float32), tf.TensorSpec((n_synthetic,), tf.int64)))
    mixed = tf.data.Dataset.zip(real, synthetic).map(lambda r, s: (tf.concat([r[0], s[0]], 0),
                                                                   tf.concat([r[1], s[1]], 0)))
    # Endless generator, finite real data: telling the length lets `fit` know an epoch's steps.
    mixed = mixed.apply(tf.data.experimental.assert_cardinality(len(x_real) // n_real))
    return mixed.prefetch(tf.data.AUTOTUNE)
