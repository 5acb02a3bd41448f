"""The held-out slice of a run's training images: how many are set aside, and which. Needs no TensorFlow, so that the
training commands' `--help` can quote it; `augment_tf.quality` scores samples against the slice."""

import numpy as np

from augment_tf.arrays import UNLABELED

SHARE = 0.1  # of the labelled training images, set aside for the quality curve
MAX = 2000  # at most this many: scoring them took about 1 s a cGAN epoch on 2 CPU cores (results/training_budget)
MIN = 100  # a smaller slice gives FIDs too noisy to rank epochs: data with fewer than 1,000 labelled images go without


def size(n_labeled):
    """Images a run of `n_labeled` labelled images holds out: SHARE of them up to MAX, or 0 where that is under MIN."""
    held = min(MAX, int(n_labeled * SHARE))
    return held if held >= MIN else 0


def split(y, held, seed):
    """(rest, held): indices of the rows trained on, and of `held` labelled rows drawn by `seed`, each sorted."""
    labelled = np.flatnonzero(np.asarray(y) != UNLABELED)
    chosen = np.sort(np.random.default_rng(seed).choice(labelled, held, replace=False))
    rest = np.ones(len(y), bool)
    rest[chosen] = False
    return np.flatnonzero(rest), chosen
