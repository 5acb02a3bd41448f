"""Does an input fit a run: its image shape, its labels, a mask of missing pixels.

One place for the checks every command that reads images for a run makes, so that each says the same one line (a
DataError naming the file) and none of them needs TensorFlow."""

import numpy as np

from augment_tf import files
from augment_tf.errors import DataError


def image_shape(config, x, source):
    """A DataError naming `source` unless images `x` (N, H, W) or (N, H, W, C) have the run's image shape."""
    shape = list(x.shape[1:]) + ([1] if x.ndim == 3 else [])
    if shape != list(config["image_shape"]):
        raise DataError(f"{source}: images are {tuple(shape)} but the run was trained on {config['image_shape']}")


def source_fits(config, source, num_classes):
    """A DataError naming `source` (sources.Arrays or Shards) unless its images have the run's shape and its labels
    fit the run's `num_classes`: both are known without reading the images."""
    if source.image_shape != tuple(config["image_shape"]):
        raise DataError(f"{source.name}: real images are {source.image_shape} but the run makes "
                        f"{tuple(config['image_shape'])}")
    if len(source.class_counts) > num_classes:
        raise DataError(f"{source.name}: labels run 0..{len(source.class_counts) - 1} but the run has {num_classes} "
                        "classes")


def labels(y, n, num_classes, source):
    """`y` as int64 when it is `n` integer labels in 0..num_classes - 1, else a DataError naming `source`."""
    y = np.asarray(y)
    in_range = y.dtype.kind in "iu" and (not y.size or (y.min() >= 0 and y.max() < num_classes))
    if y.ndim != 1 or len(y) != n or not in_range:
        found = f" in {y.min()}..{y.max()}" if y.dtype.kind in "iu" and y.ndim == 1 and y.size else ""
        raise DataError(f"{source}: y must be {n} labels in 0..{num_classes - 1}, got {len(y) if y.ndim else 0} "
                        f"{y.dtype}{found}")
    return y.astype(np.int64)


def run_labels(config, y, n, source, run_dir, command):
    """The labels a run's model reads, checked (`labels`): None for an unconditional run, which reads none; a
    conditional run's encoder and decoder need them, so `command` refuses to go on without."""
    num_classes = config.get("num_classes")
    if not num_classes:
        return None
    if y is None:
        raise DataError(f"{source}: {run_dir} is conditional and its encoder reads labels: {command} needs the "
                        "labels y; add y")
    return labels(y, n, num_classes, source)


def real_images(x, y, config, source="real images"):
    """Real images as uint8 (N, H, W, C) and int64 labels, when they fit the run's image shape and classes (those
    `augment` adds samples to); else a DataError naming `source`."""
    x = np.asarray(x)
    x = x[..., None] if x.ndim == 3 else x
    if x.shape[1:] != tuple(config["image_shape"]) or x.dtype != np.uint8:
        raise DataError(f"{source}: images are {x.dtype} {x.shape[1:]} but the run makes uint8 "
                        f"{tuple(config['image_shape'])}: use the data the run was trained on")
    return x, labels(y, len(x), config["num_classes"], source)


def room_for_images(out, config, n, noun="images"):
    """`files.check_space` for `n` images of the run's shape at `out`: said before any is drawn."""
    files.check_space(out, n * int(np.prod(config["image_shape"])), f"{n} {noun}")


def mask(mask, x, source):
    """A DataError naming `source` unless `mask` has x's shape and holds only 0 (missing) and 1 (observed)."""
    if mask.dtype.kind not in "biuf":
        raise DataError(f"{source}: mask must hold numbers, 0 (missing) and 1 (observed), got {mask.dtype}")
    if mask.shape != x.shape:
        raise DataError(f"{source}: mask has shape {mask.shape} but x has {x.shape}; mask must have x's shape")
    if not np.isin(mask, (0, 1)).all():
        raise DataError(f"{source}: mask must hold only 0 (missing) and 1 (observed), found {np.unique(mask)[:5]}")
