"""How many synthetic samples of each class: per class, as a ratio of the real ones, or to balance the classes.

Pure arithmetic on class counts (no images, no TensorFlow), so that the commands check an amount before any work."""

import numpy as np

from augment_tf import defaults
from augment_tf.errors import AugmentError


def run_classes(config):
    """Number of classes of a conditional run; an unconditional run cannot label its samples."""
    if not config.get("num_classes"):
        where = config.get("run_dir") or "this run"
        raise AugmentError(f"{where} is an unconditional run: augmenting needs labelled samples; "
                           "train one with --conditional")
    return int(config["num_classes"])


def check_amount(per_class=None, ratio=None, balance=False, balance_share=None):
    """Exactly one amount, and a sensible one."""
    given = [flag for flag, value in (("--synthetic-per-class", per_class), ("--ratio", ratio),
                                      ("--balance", balance or None)) if value is not None]
    if len(given) != 1:
        raise AugmentError("give exactly one of --synthetic-per-class, --ratio and --balance"
                           + (f" (got {' and '.join(given)})" if given else ""))
    if per_class is not None and (int(per_class) != per_class or per_class < 1):
        raise AugmentError(f"--synthetic-per-class must be a positive integer, got {per_class}")
    if ratio is not None and not (np.isfinite(ratio) and ratio > 0):
        raise AugmentError(f"--ratio must be a positive number (synthetic per real sample), got {ratio}")
    if balance_share is not None and not balance:
        raise AugmentError("--balance-share only applies with --balance")
    if balance_share is not None and not 0 <= balance_share <= 1:
        raise AugmentError(f"--balance-share must be in [0, 1] (the synthetic share of each shortfall), "
                           f"got {balance_share}")


def shortfall(y_real, num_classes, classes=None):
    """Images each class lacks to the largest real class count, int64 (num_classes,); zero outside `classes`."""
    return _shortfall(np.bincount(y_real, minlength=num_classes), classes)


def _shortfall(real, classes=None):
    """`shortfall` from the real images' class counts."""
    num_classes = len(real)
    classes = np.arange(num_classes) if classes is None else np.asarray(classes, np.int64)
    if classes.size == 0 or classes.min() < 0 or classes.max() >= num_classes:
        raise AugmentError(f"--classes: classes must be in 0..{num_classes - 1}, got {classes.tolist()}")
    missing = np.zeros(num_classes, np.int64)
    missing[classes] = real.max() - real[classes]
    return missing


def synthetic_counts(y_real, num_classes, *, per_class=None, ratio=None, balance=False, balance_share=None,
                     classes=None):
    """Synthetic samples to draw for each class, int64 (num_classes,); zero outside `classes` (default: all).

    `balance` tops each class up to the largest real class count (over all classes), `balance_share` (default
    defaults.BALANCE_SHARE) of the shortfall synthetic; a class without real images to copy gets all of it synthetic.
    """
    return counts_for(np.bincount(y_real, minlength=num_classes), per_class=per_class, ratio=ratio, balance=balance,
                      balance_share=balance_share, classes=classes)


def counts_for(real, *, per_class=None, ratio=None, balance=False, balance_share=None, classes=None):
    """`synthetic_counts` from the real images' class counts (`real`, one per class of the run)."""
    check_amount(per_class, ratio, balance, balance_share)
    real = np.asarray(real, np.int64)
    missing = _shortfall(real, classes)  # checks `classes` too
    classes = np.arange(len(real)) if classes is None else np.asarray(classes, np.int64)
    counts = np.zeros(len(real), np.int64)
    if per_class is not None:
        counts[classes] = per_class
    elif ratio is not None:
        counts[classes] = np.rint(ratio * real[classes])
    else:
        share = defaults.BALANCE_SHARE if balance_share is None else balance_share
        counts[:] = np.where(real > 0, np.rint(share * missing), missing)
    return counts


def balance_copies(y_real, num_classes, counts, rng, classes=None):
    """Indices of real samples to repeat so that, with `counts` synthetic samples, each class (of `classes`) reaches
    the largest real class count: --balance's shortfall not synthesised, drawn by `rng` with replacement (with
    no synthetic samples, random oversampling)."""
    missing = shortfall(y_real, num_classes, classes) - counts
    picks = [rng.choice(np.flatnonzero(y_real == c), n) for c, n in enumerate(missing) if n > 0]
    return np.concatenate([np.zeros(0, np.int64), *picks])
