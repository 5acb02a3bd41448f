"""Labels for a conditional run's unlabelled images, so that its generator learns from every image.

Before the generator trains, a `SemiSupervisedClassifier` learns from the run's labelled and unlabelled images
together; its network is exported as RUN_DIR/classifier.keras and labels the unlabelled images, which then train
the generator like labelled ones (as S3GAN, Lucic et al. 2019). RUN_DIR/pseudo_labels.npz keeps those labels, so a
resumed run trains on the same ones.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from augment_tf import data, files, progress, runs
from augment_tf.errors import AugmentError
from augment_tf.models import networks
from augment_tf.models.classifier import SemiSupervisedClassifier

CLASSIFIER = "classifier.keras"
LABELS = "pseudo_labels.npz"
STEPS = 6000  # default optimizer steps of the classifier: 12.6 min on 2 CPU cores (benchmarks/README.md, "Few labels")
WIDTH = 64  # its first convolution's channels: 64 beat 32 on both validation seeds, at 3.7x the time (same section)
LABELED_BATCH = 32
UNLABELED_BATCH = 128
EPOCH_STEPS = 250


def train_classifier(x, y, num_classes, *, steps=STEPS, seed=0, verbose=0, callbacks=(),
                     unlabeled_batch=UNLABELED_BATCH, width=WIDTH, **options):
    """A SemiSupervisedClassifier (`options`: its settings) fitted for `steps` steps on uint8 images `x` with labels
    `y` (UNLABELED: none); `callbacks` see an epoch end every EPOCH_STEPS steps or so."""
    (x_labeled, y_labeled), x_unlabeled = data.split_labeled(x, y)
    labeled = data.make_dataset(x_labeled, y_labeled, min(LABELED_BATCH, len(x_labeled)), seed=seed, repeat=True,
                                value_range=(0.0, 255.0))
    unlabeled = data.make_dataset(x_unlabeled, np.full(len(x_unlabeled), data.UNLABELED),
                                  min(unlabeled_batch, len(x_unlabeled)), seed=seed + 1, repeat=True,
                                  value_range=(0.0, 255.0)).map(lambda images, _: images)
    keras.utils.set_random_seed(seed)
    model = SemiSupervisedClassifier(x.shape[1:], num_classes, seed=seed, width=width, **options)
    model.compile()
    epochs = math.ceil(steps / EPOCH_STEPS)  # epochs only pace the progress lines
    model.fit(tf.data.Dataset.zip((labeled, unlabeled)), epochs=epochs, steps_per_epoch=math.ceil(steps / epochs),
              verbose=verbose, callbacks=list(callbacks), shuffle=False)  # the pipelines shuffle with the seed
    return model


def label_run(run_dir, x, y, num_classes, *, steps=STEPS, seed=0):
    """Trains the run's classifier (its progress on stderr), writes RUN_DIR/classifier.keras and pseudo_labels.npz;
    returns `y` with every unlabelled image labelled."""
    progress.note(f"training the classifier that labels {np.sum(y == data.UNLABELED)} unlabelled images ({steps} "
                  "steps) ...")
    with progress.shown() as verbose:  # a bar, or a line every EPOCH_STEPS steps, on stderr
        model = train_classifier(x, y, num_classes, steps=steps, seed=seed, verbose=verbose)
    unlabeled = y == data.UNLABELED
    x_unlabeled = x[unlabeled]
    # Eager calls, not predict(): one more traced function here made the VAE's later predict calls log a retracing warning.
    probabilities = np.concatenate([
        keras.ops.convert_to_numpy(model.predictor(np.asarray(x_unlabeled[i:i + 1000], np.float32))).astype(np.float32)
        for i in range(0, len(x_unlabeled), 1000)
    ])
    labels, confidence = y.copy(), np.ones(len(y), np.float32)  # a given label is certain
    labels[unlabeled], confidence[unlabeled] = probabilities.argmax(axis=1), probabilities.max(axis=1)
    files.save_model(networks.portable(model.predictor), runs.path(run_dir, CLASSIFIER))
    files.write_npz(runs.path(run_dir, LABELS), y=labels, confidence=confidence)
    return labels


def read_labels(run_dir, y):
    """`y` with the run's stored labels for its unlabelled images; the labelled ones must not have changed."""
    path = runs.path(run_dir, LABELS)
    labels = data.read_npz(path, ("y",), hint="the run directory is damaged: start the run again")["y"]
    if len(labels) != len(y) or np.any(labels[y != data.UNLABELED] != y[y != data.UNLABELED]):
        raise AugmentError(f"{path}: labels for {len(labels)} images, but the run's data now has {len(y)} images or "
                           "other labels; train on the data the run started with, or start a new run")
    return labels.astype(np.int64)
