"""A data set in memory: uint8 images (N, H, W, C) and int64 labels (N,), `UNLABELED` marking an image without a
label; `check_arrays` is the check every reader (data, shards) applies to what it read."""

import numpy as np

from augment_tf.errors import DataError

UNLABELED = -1  # the label of an image nobody has labelled (in an .npz's y, or every image of `load_images`)


def check_arrays(x, y, source):
    """Validates images and labels; returns x uint8 (N, H, W, C) and y int64 (N,)."""
    x, y = np.asarray(x), np.asarray(y)
    x = x[..., None] if x.ndim == 3 else x
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y  # keras.datasets style (N, 1)
    if x.ndim != 4:
        raise DataError(f"{source}: images must be (N, H, W) or (N, H, W, C), got shape {x.shape}")
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{source}: labels must be 1-D integers, got {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise DataError(f"{source}: {len(x)} images but {len(y)} labels")
    if len(x) == 0:
        raise DataError(f"{source}: no samples")
    if x.dtype != np.uint8:
        if x.dtype.kind not in "iu" or x.min() < 0 or x.max() > 255:
            raise DataError(f"{source}: images must be uint8 (or integers 0..255), got {x.dtype}; "
                            "for floats in [0, 1] save (x * 255).round().astype('uint8')")
        x = x.astype(np.uint8)
    if y.min() < UNLABELED:
        raise DataError(f"{source}: labels must be >= 0 (or {UNLABELED} for an unlabelled image), found {y.min()}")
    return x, y.astype(np.int64)
