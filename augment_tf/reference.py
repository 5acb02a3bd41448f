"""The reference classifier: the small CNN whose features and predictions score samples (augment_tf.metrics), its
training recipe (also CAS's, augment's estimate's and the benchmarks'), and its cache.

It is trained once per dataset and cached under `$AUGMENT_TF_CACHE` (default `~/.cache/augment_tf`), keyed by the
recipe's code, step budget, Keras and TensorFlow versions, and the training data.
"""

import hashlib
import inspect
import os
import re

import keras
import numpy as np

from augment_tf import data, defaults, files, progress, shard_format, sources
from augment_tf.errors import DataError
from augment_tf.models import networks

CACHE_ENV = "AUGMENT_TF_CACHE"
STEPS = defaults.REFERENCE_STEPS  # optimizer steps of the recipe (and CAS's, on fewer samples)
BATCH_SIZE = 128
MIN_CLASSIFIER_SIZE = networks.MIN_CLASSIFIER_SIZE


def cache_dir():
    """Where reference classifiers are cached: `$AUGMENT_TF_CACHE` or `~/.cache/augment_tf`."""
    return os.path.expanduser(os.environ.get(CACHE_ENV) or os.path.join("~", ".cache", "augment_tf"))


def build_classifier(image_shape, num_classes, classical=False):
    """The reference CNN (`networks.classifier`), behind random shifts, rotations and zooms (training only) if
    `classical`; a DataError for images too small for it."""
    if min(image_shape[:2]) < MIN_CLASSIFIER_SIZE:
        raise DataError(f"images of {image_shape[0]}x{image_shape[1]} pixels are too small for the reference classifier "
                        f"(at least {MIN_CLASSIFIER_SIZE}x{MIN_CLASSIFIER_SIZE}): evaluate and --filter cannot score them")
    model = networks.classifier(image_shape, num_classes)
    if not classical:
        return model
    inputs = keras.Input(tuple(image_shape))
    x = keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant")(inputs)
    x = keras.layers.RandomRotation(10 / 360, fill_mode="constant")(x)
    x = keras.layers.RandomZoom(0.1, fill_mode="constant")(x)
    return keras.Model(inputs, model(x), name="classical_augmentation")


def train_classifier(x, y, num_classes, *, steps=None, seed=0, classical=False, verbose=False):
    """`build_classifier` fitted on uint8 images for exactly `steps` steps (default STEPS) of Adam 1e-3 on batches of
    up to BATCH_SIZE in a `seed`ed order: the reference, CAS, augment-estimate and benchmark recipe.

    A fixed step budget rather than fixed epochs: 10k samples (CAS) train as long as the 60k reference.
    `verbose` shows the steps on stderr."""
    keras.utils.set_random_seed(seed)
    x = _nhwc(x)
    batches = data.make_dataset(x, np.asarray(y, np.int64), min(BATCH_SIZE, len(x)), seed=seed, repeat=True,
                                value_range=(0.0, 255.0))
    return fit_classifier(batches, x.shape[1:], num_classes, steps=steps, classical=classical, verbose=verbose)


def fit_classifier(batches, image_shape, num_classes, *, steps=None, classical=False, verbose=False):
    """`train_classifier` on a stream of (images in 0..255, labels) batches: for more images than memory holds."""
    model = build_classifier(image_shape, num_classes, classical)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    with progress.shown(verbose) as keras_verbose:  # shuffle=False: the pipeline shuffles
        model.fit(batches, epochs=1, steps_per_epoch=steps or STEPS, verbose=keras_verbose, shuffle=False)
    return model


def reference_classifier(dataset="mnist", data_dir=None, *, steps=None, verbose=False):
    """The classifier trained on the real train split (its labelled images), trained once, then loaded from the cache;
    `verbose` says so and shows the training on stderr. A sharded train split past sources.IN_MEMORY_BYTES streams."""
    source, _ = sources.open_source(dataset, "train", data_dir)
    if not source.streamed:
        (x, y), _ = data.split_labeled(source.x, source.y)
        return cached_classifier(x, y, dataset, steps=steps, verbose=verbose)
    path = _cache_path(dataset, steps, shard_format.fingerprint(source.folder))
    model = _cached(path, verbose)
    if model is None:  # a step budget reads a share of a large set: a stream of its labelled images
        progress.note(f"training the reference classifier once (cached at {path}) ...", verbose)
        keras.utils.set_random_seed(0)
        batch = min(BATCH_SIZE, source.images - source.unlabeled)
        labelled = source.dataset(batch, seed=0, value_range=(0.0, 255.0)).unbatch().filter(
            lambda image, label: label != data.UNLABELED).batch(batch, drop_remainder=True)
        with shard_format.as_data_errors():
            model = fit_classifier(labelled, source.image_shape, data.classes_of(source.class_counts, source.name),
                                   steps=steps, verbose=verbose)
        files.save_model(model, path)
    return model


def cached_classifier(x, y, name, *, steps=None, num_classes=None, verbose=False):
    """The reference recipe trained on labelled uint8 images `x`, `y` once, then loaded from the cache (keyed by
    `name`, the recipe and the arrays' content): what `evaluate` scores with, and a run's held-out scores."""
    path = _cache_path(name, steps, _digest(x, y))
    model = _cached(path, verbose)
    if model is None:
        progress.note(f"training the reference classifier once (cached at {path}) ...", verbose)
        model = train_classifier(x, y, num_classes or data.num_classes(y), steps=steps, verbose=verbose)
        files.save_model(model, path)
    return model


def _cache_path(name, steps, digest):
    name = re.sub(r"[^\w.-]+", "_", name)
    return os.path.join(cache_dir(), f"classifier-{name}-{_recipe_key(steps)}-{digest}.keras")


def _cached(path, verbose):
    """The classifier cached at `path`, or None: absent, or damaged (then rebuilt, not fatal)."""
    if not os.path.exists(path):
        return None
    try:
        return keras.saving.load_model(path)
    except Exception as e:
        progress.note(f"cached classifier {path} is unreadable ({type(e).__name__}); retraining", verbose)
        return None


def _recipe_key(steps, recipe_functions=(networks.classifier, train_classifier, fit_classifier)):
    """Short hash of everything that decides the trained classifier besides its data: the code of the recipe
    (architecture and training), its step budget and batch, and the Keras and TensorFlow versions."""
    import tensorflow as tf

    recipe = [inspect.getsource(f) for f in recipe_functions]
    recipe += [str(steps or STEPS), str(BATCH_SIZE), keras.__version__, tf.__version__]
    return hashlib.sha256("\0".join(recipe).encode()).hexdigest()[:12]


def classifier_features(model, x, batch_size=1000):
    """Activations of the "features" layer for uint8 images, as float64 (N, D)."""
    return features_and_labels(model, x, batch_size)[0]


def feature_heads(model):
    """A model of the classifier's "features" activations and class probabilities: built once for repeated scoring
    (each new one traces its own predict function)."""
    return keras.Model(model.inputs, [model.get_layer("features").output, model.outputs[0]])


def features_and_labels(model, x, batch_size=1000, heads=None):
    """One pass through `model` (or its `feature_heads`): "features" activations (float64) and predicted classes."""
    heads = heads or feature_heads(model)
    features, probabilities = heads.predict(_nhwc(x), batch_size=batch_size, verbose=0)
    return features.astype(np.float64), np.argmax(probabilities, axis=-1)


def _nhwc(x):
    """(N, H, W) grayscale -> (N, H, W, 1); (N, H, W, C) unchanged."""
    x = np.asarray(x)
    return x[..., None] if x.ndim == 3 else x


def _digest(x, y):
    """Short content hash of the training arrays: a changed dataset gets a new cached classifier."""
    h = hashlib.sha256()
    for a in (x, y):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:16]
