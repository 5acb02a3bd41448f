"""Labels for a conditional run's unlabelled images, so that its generator learns from every image.

Before the generator trains, a `SemiSupervisedClassifier` learns from the run's labelled and unlabelled images
together; its network is exported as RUN_DIR/classifier.keras and labels the unlabelled images, which then train
the generator like labelled ones (as S3GAN, Lucic et al. 2019). RUN_DIR/pseudo_labels.npz keeps those labels, so a
resumed run trains on the same ones. A streamed run (augment_tf.sources) keeps its labelled images in memory (few,
where labels are few), streams the unlabelled ones, and labels them chunk by chunk.
"""

import math
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from augment_tf import data, files, progress, runs, sources, training_options
from augment_tf.errors import AugmentError
from augment_tf.models import networks
from augment_tf.models.classifier import SemiSupervisedClassifier

CLASSIFIER = "classifier.keras"
LABELS = "pseudo_labels.npz"
STEPS = training_options.CLASSIFIER_STEPS  # default optimizer steps of the classifier (--classifier-steps's default)
WIDTH = 64  # its first convolution's channels: 64 beat 32 on both validation seeds, at 3.7x the time (same section)
LABELED_BATCH = 32
UNLABELED_BATCH = 128
EPOCH_STEPS = 250


def train_semi_supervised(x, y, num_classes, **kwargs):
    """A SemiSupervisedClassifier fitted on uint8 images `x` with labels `y` (UNLABELED: none); see `train_on`."""
    return train_on(sources.Arrays(np.asarray(x), np.asarray(y, np.int64), "images"), num_classes, **kwargs)


def train_on(source, num_classes, *, steps=STEPS, seed=0, verbose=0, callbacks=(), unlabeled_batch=UNLABELED_BATCH,
             width=WIDTH, **options):
    """A SemiSupervisedClassifier (`options`: its settings) fitted for `steps` steps on a source's labelled and
    unlabelled images; `callbacks` see an epoch end every EPOCH_STEPS steps or so."""
    x_labeled, y_labeled = labelled_images(source)
    labeled = data.make_dataset(x_labeled, y_labeled, min(LABELED_BATCH, len(x_labeled)), seed=seed, repeat=True,
                                value_range=(0.0, 255.0))
    if source.streamed:  # the unlabelled records of the stream, in its seeded order
        read = source.dataset(min(unlabeled_batch, source.images), seed=seed + 1, value_range=(0.0, 255.0))
        unlabeled = read.unbatch().filter(lambda image, label: tf.equal(label, data.UNLABELED)).batch(
            min(unlabeled_batch, source.unlabeled), drop_remainder=True)
    else:
        x_unlabeled = source.x[source.y == data.UNLABELED]
        unlabeled = data.make_dataset(x_unlabeled, np.full(len(x_unlabeled), data.UNLABELED),
                                      min(unlabeled_batch, len(x_unlabeled)), seed=seed + 1, repeat=True,
                                      value_range=(0.0, 255.0))
    unlabeled = unlabeled.map(lambda images, _: images)
    keras.utils.set_random_seed(seed)
    model = SemiSupervisedClassifier(source.image_shape, num_classes, seed=seed, width=width, **options)
    model.compile()
    epochs = math.ceil(steps / EPOCH_STEPS)  # epochs only pace the progress lines
    model.fit(tf.data.Dataset.zip((labeled, unlabeled)), epochs=epochs, steps_per_epoch=math.ceil(steps / epochs),
              verbose=verbose, callbacks=list(callbacks), shuffle=False)  # the pipelines shuffle with the seed
    return model


def labelled_images(source):
    """(x, y) of a source's labelled images, in memory: a streamed source's are read in one pass."""
    if not source.streamed:
        return data.split_labeled(source.x, source.y)[0]
    labelled = int(source.class_counts.sum())
    if labelled * math.prod(source.image_shape) > sources.IN_MEMORY_BYTES:
        raise AugmentError(f"{source.name}: {labelled:,} labelled images are more than the classifier that labels the "
                           "others holds in memory: label them all, or train on a share of them")
    chunks = [(x[y != data.UNLABELED], y[y != data.UNLABELED]) for x, y in source.chunks()]
    return tuple(np.concatenate(part) for part in zip(*chunks))


def label_run(run_dir, x, y, num_classes, *, steps=STEPS, seed=0):
    """Trains the run's classifier (its progress on stderr), writes RUN_DIR/classifier.keras and pseudo_labels.npz;
    returns `y` with every unlabelled image labelled."""
    return label_source(run_dir, sources.Arrays(x, y, "images"), num_classes, steps=steps, seed=seed)


def label_source(run_dir, source, num_classes, *, steps=STEPS, seed=0):
    """`label_run` on a source: a streamed one's labels are written chunk by chunk (returns None for it)."""
    progress.note(f"training the classifier that labels {source.unlabeled} unlabelled images ({steps} steps) ...")
    with progress.shown() as verbose:  # a bar, or a line every EPOCH_STEPS steps, on stderr
        model = train_on(source, num_classes, steps=steps, seed=seed, verbose=verbose)
    if source.streamed:
        _label_chunks(run_dir, source, model)
        return None
    x, y = source.x, source.y
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


def _label_chunks(run_dir, source, model):
    """pseudo_labels.npz of a streamed source, its labels and confidences filled chunk by chunk in files on disk."""
    progress.note(f"labelling the unlabelled images of {source.images:,} ...")
    with tempfile.TemporaryDirectory(dir=run_dir) as scratch, progress.shown() as verbose:
        labels = np.lib.format.open_memmap(os.path.join(scratch, "y.npy"), "w+", np.int64, (source.images,))
        confidence = np.lib.format.open_memmap(os.path.join(scratch, "c.npy"), "w+", np.float32, (source.images,))
        bar, start = keras.utils.Progbar(source.images, verbose=verbose, unit_name="image"), 0
        for x, y in source.chunks(1000):
            probabilities = keras.ops.convert_to_numpy(model.predictor(np.asarray(x, np.float32)))
            given = y != data.UNLABELED
            labels[start:start + len(y)] = np.where(given, y, probabilities.argmax(axis=1))
            confidence[start:start + len(y)] = np.where(given, 1.0, probabilities.max(axis=1))
            start += len(y)
            bar.add(len(y))
        files.save_model(networks.portable(model.predictor), runs.path(run_dir, CLASSIFIER))
        files.write_npz(runs.path(run_dir, LABELS), y=labels, confidence=confidence)


def read_labels(run_dir, y=None, images=None):
    """`y` with the run's stored labels for its unlabelled images; the labelled ones must not have changed. For
    streamed data, `images` (their number) instead of `y`: the stored labels, which the stream's own labels
    override (`shard_format.shard_dataset`)."""
    path = runs.path(run_dir, LABELS)
    labels = data.read_npz(path, ("y",), hint="the run directory is damaged: start the run again")["y"]
    if y is None:
        y = np.full(images, data.UNLABELED)
    if len(labels) != len(y) or np.any(labels[y != data.UNLABELED] != y[y != data.UNLABELED]):
        raise AugmentError(f"{path}: labels for {len(labels)} images, but the run's data now has {len(y)} images or "
                           "other labels; train on the data the run started with, or start a new run")
    return labels.astype(np.int64)
