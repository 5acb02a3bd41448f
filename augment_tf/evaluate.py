"""Sample quality on a reference classifier's features: FID, improved precision/recall, label fidelity, CAS.

    python -m augment_tf.evaluate samples.npz [--dataset mnist] [--data-dir DIR] [--cas] [--max-samples 10000] [--seed 0]

Prints one JSON object on stdout; notes and training progress go to stderr. The reference classifier is trained
once per dataset and cached under `$AUGMENT_TF_CACHE` (default `~/.cache/augment_tf`).
"""

import argparse
import hashlib
import inspect
import json
import os
import re
import warnings

import keras
import numpy as np
import scipy.linalg

from augment_tf import cli, data, files, progress, shards, sources
from augment_tf.models import networks
from augment_tf.errors import AugmentError, DataError

CACHE_ENV = "AUGMENT_TF_CACHE"
STEPS = 2345  # Optimizer steps: 5 epochs of the 60k MNIST train split; CAS gets as many on fewer samples.
BATCH_SIZE = 128
K_NEIGHBOURS = 3
MIN_CLASSIFIER_SIZE = networks.MIN_CLASSIFIER_SIZE
_CHUNK = 1024  # rows per distance block: 1024 x 10k float64 = 80 MB.


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
    name = re.sub(r"[^\w.-]+", "_", dataset)
    digest = _digest(x, y) if not source.streamed else shards.fingerprint(source.folder)
    path = os.path.join(cache_dir(), f"classifier-{name}-{_recipe_key(steps)}-{digest}.keras")
    if os.path.exists(path):
        try:
            return keras.saving.load_model(path)
        except Exception as e:  # A damaged cache entry is rebuilt, not fatal.
            progress.note(f"cached classifier {path} is unreadable ({type(e).__name__}); retraining", verbose)
    progress.note(f"training the reference classifier once (cached at {path}) ...", verbose)
    if source.streamed:  # a step budget reads a share of a large set: a stream of its labelled images
        keras.utils.set_random_seed(0)
        batch = min(BATCH_SIZE, source.images - source.unlabeled)
        labelled = source.dataset(batch, seed=0, value_range=(0.0, 255.0)).unbatch().filter(
            lambda image, label: label != data.UNLABELED).batch(batch, drop_remainder=True)
        with shards.as_data_errors():
            model = fit_classifier(labelled, source.image_shape, data.classes_of(source.class_counts, source.name),
                                   steps=steps, verbose=verbose)
    else:
        model = train_classifier(x, y, data.num_classes(y), steps=steps, verbose=verbose)
    files.save_model(model, path)
    return model


def _recipe_key(steps, recipe_functions=(networks.classifier, train_classifier, fit_classifier)):
    """Short hash of everything that decides the trained classifier besides its data: the code of the recipe
    (architecture and training), its step budget and batch, and the Keras and TensorFlow versions."""
    import tensorflow as tf

    recipe = [inspect.getsource(f) for f in recipe_functions]
    recipe += [str(steps or STEPS), str(BATCH_SIZE), keras.__version__, tf.__version__]
    return hashlib.sha256("\0".join(recipe).encode()).hexdigest()[:12]


def classifier_features(model, x, batch_size=1000):
    """Activations of the "features" layer for uint8 images, as float64 (N, D)."""
    return _features_and_labels(model, x, batch_size)[0]


def frechet_distance(f1, f2):
    """Fréchet distance between Gaussians fitted to two feature sets (the FID formula)."""
    f1, f2 = _features(f1, 2), _features(f2, 2)
    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    c1, c2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    with warnings.catch_warnings():  # Dead ReLU units make covariances singular; checked below instead.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(c1 @ c2)
        if not np.isfinite(covmean).all():  # Regularise, as the reference FID code does.
            offset = np.eye(len(c1)) * 1e-6
            covmean = scipy.linalg.sqrtm((c1 + offset) @ (c2 + offset))
    covmean = np.real(covmean)  # Drops the tiny imaginary parts that round-off leaves.
    distance = np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2.0 * np.trace(covmean)
    return max(float(distance), 0.0)


def precision_recall(real_f, fake_f, k=K_NEIGHBOURS):
    """Improved precision and recall (Kynkäänniemi et al. 2019) on k-NN balls of each feature set."""
    real_f, fake_f = _features(real_f, k + 1), _features(fake_f, k + 1)
    precision = _inside_any_ball(fake_f, real_f, _knn_radii(real_f, k))
    recall = _inside_any_ball(real_f, fake_f, _knn_radii(fake_f, k))
    return precision, recall


def evaluate_samples(x, y=None, *, dataset="mnist", data_dir=None, cas=False, max_samples=10000, seed=0,
                     classifier_steps=None, verbose=False):
    """All metrics for uint8 samples `x` (and labels `y`) against the real test split, as a dict; `verbose` shows
    the classifiers' training on stderr."""
    if cas and y is None:
        raise AugmentError("CAS needs labelled samples: save the samples with labels y, or drop --cas")
    if max_samples <= K_NEIGHBOURS:
        raise AugmentError(f"max_samples must be at least {K_NEIGHBOURS + 1}, got {max_samples}")
    train, _ = sources.open_source(dataset, "train", data_dir)  # its shape and classes: no need to read a large set
    num_classes = data.classes_of(train.class_counts, train.name)
    x, y = _check_samples(x, y, train.image_shape, num_classes)
    n = min(len(x), max_samples)
    x, y = x[:n], (None if y is None else y[:n])
    if n <= K_NEIGHBOURS:
        raise DataError(f"need at least {K_NEIGHBOURS + 1} samples to evaluate, got {n}")
    train_folder = data_dir and shards.split_folder(data_dir, "train")
    if train_folder and shards.split_folder(data_dir, "test") == train_folder:  # before reading it as the test split
        raise DataError(f"{data_dir}: one sharded folder serves every split, so scores would be measured on the "
                        "reference classifier's own training images; write the splits as DIR/train and DIR/test "
                        "(python -m augment_tf.shard SRC --split test --out DIR/test)")
    x_test, y_test = data.load_arrays(dataset, "test", data_dir)
    if not train.streamed and np.array_equal(x_test, train.x) and np.array_equal(y_test, train.y):  # no pass unless
        # the shapes agree
        raise DataError(f"{data_dir or dataset}: the test split is the training split (an .npz file serves every split), "
                        "so scores would be measured on the reference classifier's own training images; pass a folder "
                        "with both splits (train.npz and test.npz, or the MNIST IDX files)")
    (x_test, y_test), _ = data.split_labeled(x_test, y_test)  # unlabelled test images score no accuracy
    if not len(y_test):
        raise DataError(f"{data_dir or dataset}: the test split has no labelled images; evaluate needs labelled ones")
    model = reference_classifier(dataset, data_dir, steps=classifier_steps, verbose=verbose)
    real_f, test_pred = _features_and_labels(model, x_test)
    real_f = real_f[:max_samples]
    fake_f, fake_pred = _features_and_labels(model, x)
    precision, recall = precision_recall(real_f, fake_f)
    result = {"dataset": dataset, "n_samples": n, "fid": frechet_distance(real_f, fake_f),
              "precision": precision, "recall": recall,
              "classifier_test_accuracy": float(np.mean(test_pred == y_test))}
    if y is not None:
        result["label_fidelity"] = float(np.mean(fake_pred == y))
    if cas:
        progress.note(f"training the CAS classifier on {n} samples ...", verbose)
        cas_model = train_classifier(x, y, num_classes, seed=seed, steps=classifier_steps,
                                     verbose=verbose)
        result["cas"] = float(np.mean(_features_and_labels(cas_model, x_test)[1] == y_test))
    return result


def load_samples(path):
    """`x` and optional `y` of a samples `.npz` file, or a DataError saying what is wrong with it."""
    arrays = data.read_npz(path, ("x",), ("y",), hint="save with np.savez(path, x=images, y=labels)")
    return arrays["x"], arrays.get("y")


def main(argv=None):
    """CLI: scores a samples .npz and prints the metrics as one JSON object on stdout."""
    parser = argparse.ArgumentParser(prog=cli.prog("augment_tf.evaluate"), description=__doc__.split("\n")[0])
    parser.add_argument("samples", help=".npz with x (uint8, N x H x W [x C]) and optional y (integer labels)")
    parser.add_argument("--dataset", default="mnist", help="real dataset to compare with (default mnist)")
    parser.add_argument("--data-dir", help=f"local real data (IDX folder or .npz); default ${data.DATA_DIR_ENV} or TFDS")
    parser.add_argument("--cas", action="store_true", help="also train on the samples and test on real data (needs y)")
    parser.add_argument("--max-samples", type=int, default=10000, help="samples and real test images used (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the CAS classifier")
    parser.add_argument("--classifier-steps", type=int,
                        help=f"training steps of the reference and CAS classifiers (default {STEPS}); "
                        "lower only for quick checks: figures compare only at the default")
    args = parser.parse_args(argv)
    x, y = load_samples(args.samples)
    result = evaluate_samples(x, y, dataset=args.dataset, data_dir=args.data_dir, cas=args.cas,
                              max_samples=args.max_samples, seed=args.seed, classifier_steps=args.classifier_steps,
                              verbose=True)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))


def _check_samples(x, y, image_shape, num_classes):
    """Validates samples against the real data: x uint8 (N, H, W, C), y int64 labels in range."""
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise DataError(f"samples x must be (N, H, W) or (N, H, W, C), got shape {x.shape}")
    x = _nhwc(x)
    if x.shape[1:] != tuple(image_shape):
        raise DataError(f"samples have image shape {x.shape[1:]} but the real images are {tuple(image_shape)}")
    if x.dtype != np.uint8:
        if x.dtype.kind not in "iu" or (x.size and (x.min() < 0 or x.max() > 255)):
            raise DataError(f"samples x must be uint8 0..255, got {x.dtype}; for floats in [0, 1] "
                            "save (x * 255).round().astype('uint8')")
        x = x.astype(np.uint8)
    if y is None:
        return x, None
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"labels y must be 1-D integers, got {y.dtype} {y.shape}")
    if len(y) != len(x):
        raise DataError(f"{len(x)} samples but {len(y)} labels")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(f"labels must be in 0..{num_classes - 1}, found {y.min()}..{y.max()}")
    return x, y.astype(np.int64)


def _nhwc(x):
    """(N, H, W) grayscale -> (N, H, W, 1); (N, H, W, C) unchanged."""
    x = np.asarray(x)
    return x[..., None] if x.ndim == 3 else x


def _features_and_labels(model, x, batch_size=1000):
    """One pass through `model`: "features" activations (float64) and predicted classes."""
    heads = keras.Model(model.inputs, [model.get_layer("features").output, model.outputs[0]])
    features, probabilities = heads.predict(_nhwc(x), batch_size=batch_size, verbose=0)
    return features.astype(np.float64), np.argmax(probabilities, axis=-1)


def _features(f, min_rows):
    """A float64 (N, D) feature matrix with at least `min_rows` rows."""
    f = np.asarray(f, np.float64)
    if f.ndim != 2 or len(f) < min_rows:
        raise DataError(f"features must be (N, D) with N >= {min_rows}, got shape {f.shape}")
    return f


def _sq_distances(a, b):
    """Squared Euclidean distances between the rows of `a` and `b`, clipped at 0 against round-off."""
    d = np.sum(a**2, axis=1)[:, None] + np.sum(b**2, axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def _knn_radii(f, k):
    """Squared distance of each row to its k-th nearest neighbour in `f`, itself excluded."""
    # Column k of the sorted distances: column 0 is the row itself (distance 0).
    return np.concatenate([np.partition(_sq_distances(f[i : i + _CHUNK], f), k, axis=1)[:, k]
                           for i in range(0, len(f), _CHUNK)])


def _inside_any_ball(queries, centres, sq_radii):
    """Share of `queries` within at least one ball (centre, radius) of the other set."""
    hits = [np.any(_sq_distances(queries[i : i + _CHUNK], centres) <= sq_radii[None, :], axis=1)
            for i in range(0, len(queries), _CHUNK)]
    return float(np.mean(np.concatenate(hits)))


def _digest(x, y):
    """Short content hash of the training arrays: a changed dataset gets a new cached classifier."""
    h = hashlib.sha256()
    for a in (x, y):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:16]


if __name__ == "__main__":
    cli.run(main)
