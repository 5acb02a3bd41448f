"""A data set in memory: uint8 images (N, H, W, C) and int64 labels (N,), `UNLABELED` marking an image without a
label; `check_arrays` is the check every reader (data, shards) applies to what it read."""

import numpy as np

from augment_tf.errors import DataError

UNLABELED = -1  # the label of an image nobody has labelled (in an .npz's y, or every image of `load_images`)


def check_images(x, source, floats=False):
    """x as (N, H, W, C) when it is at least one image (N, H, W) or (N, H, W, C) of integers 0..255 (or, with
    `floats`, finite floats), else a DataError naming `source`: uint8 unless `floats` kept a float dtype."""
    x = np.asarray(x)
    if x.ndim not in (3, 4) or x.dtype.kind not in ("iuf" if floats else "iu"):
        kinds = "integers 0..255 or floats" if floats else "uint8 (integers 0..255)"
        hint = "" if floats or x.dtype.kind != "f" else "; for floats in [0, 1] save (x * 255).round().astype('uint8')"
        raise DataError(f"{source}: x must be images (N, H, W) or (N, H, W, C) of {kinds}, got {x.dtype} with shape "
                        f"{x.shape}{hint}")
    if not len(x):
        raise DataError(f"{source}: x holds no images")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{source}: x holds NaN or infinite values")
    if x.dtype.kind in "iu" and x.dtype != np.uint8:
        if x.min() < 0 or x.max() > 255:
            raise DataError(f"{source}: integer images must be 0..255, found {x.min()}..{x.max()}")
        x = x.astype(np.uint8)
    return x[..., None] if x.ndim == 3 else x


def check_arrays(x, y, source):
    """Validates images and labels; returns x uint8 (N, H, W, C) and y int64 (N,)."""
    x, y = check_images(x, source), np.asarray(y)
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y  # keras.datasets style (N, 1)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{source}: labels y must be 1-D integers, got {y.dtype} with shape {y.shape}")
    if len(x) != len(y):
        raise DataError(f"{source}: {len(x)} images but {len(y)} labels")
    if y.min() < UNLABELED:
        raise DataError(f"{source}: labels must be >= 0 (or {UNLABELED} for an unlabelled image), found {y.min()}")
    return x, y.astype(np.int64)
