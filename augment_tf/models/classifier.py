"""Classifier trained on a few labelled and many unlabelled images at once (FixMatch, Sohn et al. 2020).

The network's prediction on a lightly moved view of an unlabelled image, where it is confident, is the target for
a strongly distorted view of the same image: it learns from unlabelled images only what it is already sure of, and
learns it invariant to the distortions, so confidence spreads from the labelled images to the rest.
"""

import keras
import tensorflow as tf
from keras import ops

from augment_tf.models import networks, random_views, replicas
from augment_tf.models.base import ReplicatedModel, apply_gradients, resolve_jit_compile, update_moving_average

STRONG = dict(shift=0.15, rotation=20.0, zoom=0.2)  # random_affine bounds of the strong view
ERASE = 0.25  # side of the square the strong view erases, as a share of the image height


@keras.saving.register_keras_serializable(package="augment_tf")
class SemiSupervisedClassifier(ReplicatedModel):
    """`fit` on batches ((images, labels), unlabelled images), raw 0..255; `network` is the classifier
    (`networks.classifier`) that trains; `predictor`, its exponential moving average, labels images and is exported
    (`networks.portable`: plain Keras).

    `threshold`: confidence above which an unlabelled image's prediction becomes its target;
    `unlabeled_weight`: weight of the unlabelled images' loss against the labelled images' loss;
    `erase`: side of the square the strong view erases (0: none), as a share of the image height;
    `width`: the network's first convolution's channels.
    """

    def __init__(self, image_shape=(28, 28, 1), num_classes=10, threshold=0.95, unlabeled_weight=1.0, erase=ERASE,
                 ema_decay=0.999, seed=None, width=32, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.threshold = threshold
        self.unlabeled_weight = unlabeled_weight
        self.erase = erase
        self.ema_decay = ema_decay
        self.seed = seed
        self.width = width
        # ReplicaDropout: under tf.distribute, each replica drops its rows of the mask one device would draw
        build = lambda name: networks.classifier(self.image_shape, num_classes, width, name, networks.ReplicaDropout)
        self.network = build("trained_classifier")
        self.ema_network = build("classifier") if ema_decay else None
        if ema_decay:
            self.ema_network.set_weights(self.network.get_weights())
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.labeled_loss_tracker = keras.metrics.Mean(name="labeled_loss")
        self.unlabeled_loss_tracker = keras.metrics.Mean(name="unlabeled_loss")
        self.confident_tracker = keras.metrics.Mean(name="confident")  # share of unlabelled images with a target
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="labeled_accuracy")
        self.built = True

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape, "num_classes": self.num_classes,
                "threshold": self.threshold, "unlabeled_weight": self.unlabeled_weight, "erase": self.erase,
                "ema_decay": self.ema_decay, "seed": self.seed, "width": self.width}

    def compile(self, optimizer=None, jit_compile="auto", **kwargs):
        """Adam(1e-3) by default, built now (ReplicatedModel); jit_compile 'auto'|True|False."""
        super().compile(optimizer=optimizer or keras.optimizers.Adam(1e-3),
                        jit_compile=resolve_jit_compile(jit_compile), **kwargs)
        self.optimizer.build(self.network.trainable_variables)

    @property
    def metrics(self):
        return [self.labeled_loss_tracker, self.unlabeled_loss_tracker, self.confident_tracker, self.accuracy_tracker]

    @property
    def predictor(self):
        """The network that labels and is exported: the weights averaged over training (steadier), if kept."""
        return self.ema_network if self.ema_decay else self.network

    def call(self, images, training=False):
        return self.predictor(images, training=training)

    def _weak(self, images):
        return random_views.random_affine(images, self.seed_generator)

    def _strong(self, images):
        moved = random_views.random_affine(images, self.seed_generator, **STRONG)
        return random_views.random_erase(moved, self.seed_generator, size=self.erase) if self.erase else moved

    def train_step(self, data):
        (images, labels), unlabeled = data
        probabilities = self.network(self._weak(unlabeled), training=False)
        confidence, targets = ops.max(probabilities, axis=-1), ops.argmax(probabilities, axis=-1)
        mask = ops.cast(confidence >= self.threshold, "float32")
        strong = self._strong(unlabeled)
        with tf.GradientTape() as tape:
            predicted = self.network(self._weak(images), training=True)
            predicted = ops.cast(predicted, "float32")  # losses in float32 whatever precision the network computes in
            labeled_loss = ops.mean(keras.losses.sparse_categorical_crossentropy(labels, predicted))
            predicted_unlabeled = ops.cast(self.network(strong, training=True), "float32")
            unlabeled_loss = ops.mean(mask * keras.losses.sparse_categorical_crossentropy(targets, predicted_unlabeled))
            loss = labeled_loss + self.unlabeled_weight * unlabeled_loss
            # On the tape: Keras sums the replicas' gradients; a loss-scaling optimizer scales the loss.
            share = self.optimizer.scale_loss(replicas.share(loss))
        variables = self.network.trainable_variables
        apply_gradients(self.optimizer, tape.gradient(share, variables), variables)
        if self.ema_decay:  # trainable weights only: dropout's seed state is not a weight
            update_moving_average(self.ema_network.trainable_variables, variables, self.ema_decay,
                                  self.optimizer.iterations)
        self.labeled_loss_tracker.update_state(replicas.global_mean(labeled_loss))
        self.unlabeled_loss_tracker.update_state(replicas.global_mean(unlabeled_loss))
        self.confident_tracker.update_state(replicas.global_mean(ops.mean(mask)))
        self.accuracy_tracker.update_state(labels, predicted)
        return self._logs()
