"""Sample quality on the reference classifier's features: FID, improved precision/recall, label fidelity, CAS.

Importing this module loads no TensorFlow: `evaluate_samples` refuses bad samples and data before it loads the
reference classifier (augment_tf.reference).
"""

import warnings

import numpy as np
import scipy.linalg

from augment_tf import data, progress, shard_format, sources
from augment_tf.errors import AugmentError, DataError

K_NEIGHBOURS = 3
_CHUNK = 1024  # rows per distance block: 1024 x 10k float64 = 80 MB.


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
    train_folder = data_dir and shard_format.split_folder(data_dir, "train")
    if train_folder and shard_format.split_folder(data_dir, "test") == train_folder:  # before reading it as the test split
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
    import augment_tf  # TensorFlow loads only now, its start-up notes muted: the checks above answer without it

    augment_tf.load_tensorflow()
    from augment_tf import reference

    model = reference.reference_classifier(dataset, data_dir, steps=classifier_steps, verbose=verbose)
    real_f, test_pred = reference.features_and_labels(model, x_test)
    real_f = real_f[:max_samples]
    fake_f, fake_pred = reference.features_and_labels(model, x)
    precision, recall = precision_recall(real_f, fake_f)
    result = {"dataset": dataset, "n_samples": n, "fid": frechet_distance(real_f, fake_f),
              "precision": precision, "recall": recall,
              "classifier_test_accuracy": float(np.mean(test_pred == y_test))}
    if y is not None:
        result["label_fidelity"] = float(np.mean(fake_pred == y))
    if cas:
        progress.note(f"training the CAS classifier on {n} samples ...", verbose)
        cas_model = reference.train_classifier(x, y, num_classes, seed=seed, steps=classifier_steps,
                                               verbose=verbose)
        result["cas"] = float(np.mean(reference.features_and_labels(cas_model, x_test)[1] == y_test))
    return result


def _check_samples(x, y, image_shape, num_classes):
    """Validates samples against the real data: x uint8 (N, H, W, C), y int64 labels in range."""
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise DataError(f"samples x must be (N, H, W) or (N, H, W, C), got shape {x.shape}")
    x = x[..., None] if x.ndim == 3 else x  # (N, H, W) grayscale -> (N, H, W, 1)
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
