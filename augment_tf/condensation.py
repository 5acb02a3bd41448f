"""Condensation: K images per class that a classifier can train on instead of the whole set.

Distribution matching (Zhao & Bilen 2023) through a conditional run's generator: each class's K images should have
the mean embedding of the class's real images under randomly drawn ConvNets. K samples per class are herded from a
pool of the run's samples (greedy mean matching), then their codes follow the gradient of the same objective, a
fresh network and real batch at each step; the images stay ones the generator can make. What `augment-tf condense`
runs; its defaults, chosen on validation, are in `defaults`.
"""

import keras
import numpy as np
import tensorflow as tf

from augment_tf import defaults, images, progress, sampling
from augment_tf.errors import DataError
from augment_tf.models import networks


def random_weights(net, seed):
    """Values for `net`'s trainable weights as a fresh random draw from `seed` (two integers): convolution kernels
    and biases from U(+-1/sqrt(fan_in)), PyTorch's default and how the papers' networks start; the rest as built."""
    weights = []
    for i, layer in enumerate(net.layers):
        if isinstance(layer, keras.layers.Conv2D):
            bound = 1.0 / np.sqrt(np.prod(layer.kernel.shape[:-1]))
            weights += [tf.random.stateless_uniform(v.shape, tf.stack([seed[0], seed[1] * 1000 + 2 * i + j]), -bound,
                                                    bound) for j, v in enumerate([layer.kernel, layer.bias])]
        else:
            weights += [tf.convert_to_tensor(v) for v in layer.trainable_variables]
    return weights


def embed(net, weights, x01):
    """(N, D) embedding of images in [0, 1] by `net` (networks.convnet_features) with the given weights."""
    outputs, _ = net.stateless_call(weights, [], x01, training=False)
    return outputs


def matching_loss(features, labels, targets):
    """Squared distance between each class's mean feature and its target, summed over classes."""
    means = tf.math.unsorted_segment_mean(features, labels, tf.shape(targets)[0])
    return tf.reduce_sum((means - targets) ** 2)


def first_of_each_class(chunks, per_class, num_classes):
    """(num_classes, per_class, H, W, C) uint8: the first `per_class` labelled images of each class in the (x, y)
    chunks, in stored order (a class with fewer repeats its own), and how many each class had. Reading stops once
    every class is full, so a streamed set of any size is read only as far as needed. Unlabelled images are skipped."""
    kept, counts = [[] for _ in range(num_classes)], np.zeros(num_classes, np.int64)
    for x, y in chunks:
        x, y = np.asarray(x), np.asarray(y)
        x = x.reshape(len(x), *x.shape[1:3], -1)
        for c in range(num_classes):
            rows = np.flatnonzero(y == c)[: max(0, per_class - counts[c])]
            if len(rows):
                kept[c].append(x[rows])
                counts[c] += len(rows)
        if counts.min() >= per_class:
            break
    missing = np.flatnonzero(counts == 0)
    if len(missing):
        raise DataError(f"the real data has no images of class {', '.join(map(str, missing))}: condense matches "
                        "each class's real images, so every class needs some")
    return np.stack([np.resize(np.concatenate(k), (per_class, *k[0].shape[1:])) for k in kept]), counts


def herd(features, target, k):
    """Indices of `k` rows of `features` chosen greedily so that their running mean stays closest to `target`."""
    chosen, total = [], np.zeros_like(target)
    available = np.ones(len(features), bool)
    for i in range(k):
        candidates = (total[None] + features) / (i + 1)
        distance = np.sum((candidates - target[None]) ** 2, axis=1)
        distance[~available] = np.inf
        best = int(np.argmin(distance))
        chosen.append(best)
        available[best] = False
        total += features[best]
    return np.array(chosen)


def herd_pool(net, real, pool_images, pool_labels, per_class, nets=defaults.CONDENSE_HERDING_NETS, seed=0):
    """Indices of `per_class` pool images of each class, herded towards the real class means under `nets` random
    draws of `net` (each draw's part of the features scaled alike)."""
    num_classes = len(real)
    features, targets = [], []
    embed_all = tf.function(lambda w, x: embed(net, w, x), jit_compile=True)
    for i in range(nets):
        weights = random_weights(net, tf.constant([seed, -1 - i]))
        embed_images = lambda x: np.concatenate([embed_all(weights, images.to_unit_range(x[j:j + 1000])).numpy()  # noqa
                                                 for j in range(0, len(x), 1000)]).astype(np.float64)
        f = embed_images(pool_images)
        scale = np.sqrt(f.shape[1])
        features.append(f / scale)
        targets.append(np.stack([embed_images(real[c]).mean(0) for c in range(num_classes)]) / scale)
    features, targets = np.concatenate(features, 1), np.concatenate(targets, 1)
    return np.concatenate([np.flatnonzero(pool_labels == c)[herd(features[pool_labels == c], targets[c], per_class)]
                           for c in range(num_classes)])


def refine(sampler, value_range, codes, labels, net, real, steps=defaults.CONDENSE_STEPS,
           learning_rate=defaults.CONDENSE_LEARNING_RATE, real_batch=defaults.CONDENSE_REAL_BATCH, seed=0, verbose=False):
    """(codes, matching loss per step): `codes` moved by `steps` of Adam so that each class's images
    (sampler(codes, labels)) have the mean embedding of `real_batch` of its `real` images (num_classes, R, H, W, C),
    under a ConvNet drawn afresh at each step: distribution matching (Zhao & Bilen 2023) through the generator."""
    low, high = value_range
    num_classes, kept = real.shape[:2]
    z = tf.Variable(codes, dtype=tf.float32)
    labels = tf.constant(labels, tf.int32)
    real = tf.constant(real)
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build([z])

    @tf.function(jit_compile=True)
    def step(index):
        weights = random_weights(net, tf.stack([seed, index]))
        rows = tf.random.stateless_uniform((num_classes, real_batch), tf.stack([seed, -index - 1]), 0, kept, tf.int32)
        batch = tf.cast(tf.gather(real, rows, batch_dims=1), tf.float32) / 255.0
        targets = tf.reduce_mean(tf.reshape(embed(net, weights, tf.reshape(batch, [-1, *real.shape[2:]])),
                                            [num_classes, real_batch, -1]), axis=1)
        with tf.GradientTape() as tape:
            x = (sampler([z, labels], training=False) - low) / (high - low)
            loss = matching_loss(embed(net, weights, x), labels, targets)
        optimizer.apply_gradients([(tape.gradient(loss, z), z)])
        return loss

    losses = []
    with progress.shown(verbose) as keras_verbose:
        bar = keras.utils.Progbar(steps, verbose=keras_verbose, unit_name="step")
        for index in range(steps):
            losses.append(float(step(tf.constant(index))))
            bar.add(1, [("matching loss", losses[-1])])
    return z.numpy(), losses


def decode(sampler, config, codes, labels, batch_size=1000):
    """uint8 images of the run's sampler for `codes` and `labels`."""
    out = sampler.predict([codes, np.asarray(labels, np.int32)], batch_size=batch_size, verbose=0)
    return images.from_model_range(out, config["value_range"])


def condense(sampler, config, chunks, per_class, *, pool=defaults.CONDENSE_POOL,
             kept_per_class=defaults.CONDENSE_REAL_PER_CLASS, steps=defaults.CONDENSE_STEPS,
             learning_rate=defaults.CONDENSE_LEARNING_RATE, seed=0, temperature=1.0, verbose=False):
    """(x uint8, y, report): `per_class` images of each class of a conditional run that stand in for the real
    (x, y) `chunks`: herded from `pool` samples per class (drawn at `temperature`), then refined by distribution
    matching."""
    num_classes, shape = config["num_classes"], tuple(config["image_shape"])
    net = networks.convnet_features(shape, defaults.CONDENSE_WIDTH)
    progress.note(f"reading up to {kept_per_class} real images per class ...", verbose)
    real, counts = first_of_each_class(chunks, kept_per_class, num_classes)
    progress.note(f"drawing {pool} samples per class and herding {per_class} of each ...", verbose)
    rng = np.random.default_rng(seed)
    pool_labels = np.repeat(np.arange(num_classes), pool)
    pool_codes = sampling.noise(rng, len(pool_labels), config, temperature)
    chosen = herd_pool(net, real, decode(sampler, config, pool_codes, pool_labels), pool_labels, per_class, seed=seed)
    labels = pool_labels[chosen]
    progress.note(f"matching the real classes through the run's codes ({steps} steps) ...", verbose and steps > 0)
    codes, losses = refine(sampler, config["value_range"], pool_codes[chosen], labels, net, real, steps,
                           learning_rate, seed=seed, verbose=verbose)
    report = {"real_images_per_class": counts.tolist(), "pool_per_class": pool, "temperature": temperature,
              "steps": steps, "learning_rate": learning_rate,
              "matching_loss_first_steps": float(np.mean(losses[:50])) if losses else None,
              "matching_loss_last_steps": float(np.mean(losses[-50:])) if losses else None}
    return decode(sampler, config, codes, labels), labels.astype(np.int64), report
