"""Layer stacks shared by the GAN and VAE: DCGAN-style up- and down-sampling convolutions.

Images are (H, W, C) of any size: the two stride-2 stages work on H and W padded to the next multiple of 4
(28x28 MNIST and 32x32 CIFAR need none; USPS 16x16 none; 30x30 pads to 32x32), and generated images are cropped
back. Class conditioning is optional everywhere: pass `num_classes` and the network takes a second input,
integer labels. `classifier` is the small CNN that scores samples (evaluate) and labels unlabelled images.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from augment_tf.models import replicas

MIN_CLASSIFIER_SIZE = 10  # `classifier`'s two valid 3x3 convolutions, each followed by 2x2 pooling, need 10 pixels


def _padding(image_shape):
    """((top, bottom), (left, right)) rows and columns that bring H and W to the next multiple of 4."""
    pads = [(-size) % 4 for size in image_shape[:2]]
    return tuple((pad // 2, pad - pad // 2) for pad in pads)


def _padded_size(image_shape):
    """(H, W) padded to multiples of 4: what the stride-2 stages work on."""
    return tuple(size + sum(pad) for size, pad in zip(image_shape[:2], _padding(image_shape)))


def _with_label(first_input, x, num_classes, embed_dim):
    """(model inputs, tensor): `first_input` and `x`, or [first_input, label] and `x` joined to a label embedding."""
    if not num_classes:
        return first_input, x
    label = keras.Input(shape=(), dtype="int32", name="label")
    embedding = layers.Embedding(num_classes, embed_dim, name="label_embedding")(label)
    return [first_input, label], layers.Concatenate()([x, embedding])


def upsampler(image_shape, input_dim, num_classes=None, width=64, activation="tanh", name="generator"):
    """Vector (plus label) -> image: dense to a quarter of the padded size, two stride-2 transposed convs with
    BatchNorm + ReLU, then cropped to `image_shape`. BatchNorm takes its statistics over the global batch under
    tf.distribute, as on one device."""
    (height, width_px), channels = _padded_size(image_shape), image_shape[2]
    vector = keras.Input(shape=(input_dim,), name="z")
    inputs, x = _with_label(vector, vector, num_classes, embed_dim=input_dim)
    x = layers.Dense((height // 4) * (width_px // 4) * width * 2, use_bias=False)(x)
    x = layers.BatchNormalization(synchronized=True)(x)
    x = layers.ReLU()(x)
    x = layers.Reshape((height // 4, width_px // 4, width * 2))(x)
    x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(synchronized=True)(x)
    x = layers.ReLU()(x)
    outputs = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation=activation)(x)
    if any(map(sum, _padding(image_shape))):
        outputs = layers.Cropping2D(_padding(image_shape), name="crop_to_image")(outputs)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="augment_tf")
class LeakyReLU(layers.LeakyReLU):
    """`keras.layers.LeakyReLU` whose gradient reads the layer's output, not its input (the same for a positive slope).

    TensorFlow's gradient reads the input, the convolution's BiasAdd, so that tensor has two consumers; oneDNN's
    graph rewrite (grappler's remapper) still fuses Conv2D + BiasAdd + LeakyRelu, fails ("remapper failed: ...
    LeakyReluGrad ... missing node .../BiasAdd"), prints that error at every run's first step and leaves the whole
    train step unfused. Reading the output lets the fusion through: no error, and faster (benchmarks/README.md)."""

    def call(self, inputs):
        slope = self.negative_slope

        @tf.custom_gradient
        def leaky_relu(x):
            y = tf.nn.leaky_relu(x, alpha=slope)
            return y, lambda dy: tf.raw_ops.LeakyReluGrad(gradients=dy, features=y, alpha=slope)

        return leaky_relu(inputs)


@keras.saving.register_keras_serializable(package="augment_tf")
class ReplicaDropout(layers.Dropout):
    """`keras.layers.Dropout` that trains the same on many replicas as on one device: under tf.distribute each
    replica drops its rows of the mask one device draws for the global batch. (Keras' own draws, from the shared
    seed, the same mask for every replica's rows: replica 1's rows were dropped as replica 0's, unlike on one
    device.) On one device it is Keras' Dropout, draw for draw."""

    def call(self, inputs, training=False):
        if not training or not self.rate or self.noise_shape is not None or replicas.count() == 1:
            return super().call(inputs, training=training)
        draw = lambda shape: keras.random.dropout(ops.ones(shape, inputs.dtype), self.rate, seed=self.seed_generator)
        return inputs * replicas.rows(draw, (ops.shape(inputs)[0], *inputs.shape[1:]))


def portable(model):
    """A copy of `model` (same weights) that loads and runs anywhere with plain Keras: `keras.layers.LeakyReLU`
    and `keras.layers.Dropout` for this module's, and float32 computation whatever precision it trained in."""

    def clone(layer):
        if isinstance(layer, keras.Model):  # nested networks (the VAE's sampler holds its prior and decoder)
            return keras.models.clone_model(layer, clone_function=clone)
        plain = {LeakyReLU: layers.LeakyReLU, ReplicaDropout: layers.Dropout}
        cls = plain.get(type(layer), layer.__class__)
        return cls.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


@keras.saving.register_keras_serializable(package="augment_tf")
class MinibatchStddev(layers.Layer):
    """Appends the batch's mean feature standard deviation as one more channel (Karras et al. 2018): the
    discriminator can then tell a batch short of variety, which pushes the generator to cover more modes.
    Under tf.distribute the statistic is the global batch's, so replicas compute what one device would."""

    def call(self, x):
        mean = replicas.global_mean(ops.mean(x, axis=0))
        variance = replicas.global_mean(ops.mean(ops.square(x - mean), axis=0))
        spread = ops.mean(ops.sqrt(variance + 1e-8))  # the epsilon keeps the gradient finite at 0
        return ops.concatenate([x, ops.ones_like(x[..., :1]) * spread], axis=-1)


def downsampler(image_shape, num_classes=None, width=64, minibatch_std=False, name="discriminator"):
    """Image -> flat features through two stride-2 convs with LeakyReLU; returns (inputs, features)."""
    image = keras.Input(shape=tuple(image_shape), name="image")
    x = image
    if any(map(sum, _padding(image_shape))):
        x = layers.ZeroPadding2D(_padding(image_shape), name="pad_to_multiple_of_4")(x)
    x = layers.Conv2D(width, 4, strides=2, padding="same")(x)
    x = LeakyReLU(0.2)(x)
    if minibatch_std:
        x = MinibatchStddev()(x)
    x = layers.Conv2D(width * 2, 4, strides=2, padding="same")(x)
    x = LeakyReLU(0.2)(x)
    return image, layers.Flatten()(x)


def encoder(image_shape, latent_dim, num_classes=None, width=64, name="encoder"):
    """Image (plus label) -> [mean, log-variance] of a diagonal Gaussian over the latent space (the VAE's q(z|x))."""
    image, features = downsampler(image_shape, width=width)
    inputs, x = _with_label(image, features, num_classes, embed_dim=latent_dim)
    mean = layers.Dense(latent_dim, name="mean")(x)
    log_var = layers.Dense(latent_dim, name="log_var")(x)
    return keras.Model(inputs, [mean, log_var], name=name)


def latent_prior(latent_dim, num_classes=None, name="prior"):
    """Noise (plus label) -> z = mean + scale @ noise: a Gaussian per class, N(0, I) until its weights are fitted."""
    noise = keras.Input(shape=(latent_dim,), name="noise")
    if not num_classes:
        z = layers.Dense(latent_dim, kernel_initializer="identity", name="prior_affine")(noise)
        return keras.Model(noise, z, name=name)
    label = keras.Input(shape=(), dtype="int32", name="label")
    mean = layers.Embedding(num_classes, latent_dim, embeddings_initializer="zeros", name="prior_mean")(label)
    scale = layers.Embedding(num_classes, latent_dim * latent_dim, name="prior_scale")(label)
    scaled = layers.Dot(axes=(2, 1))([layers.Reshape((latent_dim, latent_dim))(scale), noise])
    prior = keras.Model([noise, label], layers.Add()([mean, scaled]), name=name)
    prior.get_layer("prior_scale").embeddings.assign(np.tile(np.eye(latent_dim).ravel(), (num_classes, 1)))
    return prior


def discriminator(image_shape, num_classes=None, width=64, minibatch_std=False, name="discriminator"):
    """Image (plus label) -> one real/fake logit; conditional via a projection term (Miyato & Koyama 2018)."""
    image, features = downsampler(image_shape, width=width, minibatch_std=minibatch_std)
    logit = layers.Dense(1, name="logit")(features)
    if not num_classes:
        return keras.Model(image, logit, name=name)
    label = keras.Input(shape=(), dtype="int32", name="label")
    embedding = layers.Embedding(num_classes, features.shape[-1], name="projection")(label)
    projection = layers.Dot(axes=1)([features, embedding])
    return keras.Model([image, label], layers.Add()([logit, projection]), name=name)


def freeze_convolutions(model, count):
    """Makes the first `count` convolutions of `model` untrainable (optimizers then skip their weights)."""
    convolutions = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    if not 0 <= count <= len(convolutions):
        raise ValueError(f"{model.name} has {len(convolutions)} convolutions; cannot freeze {count}")
    for layer in convolutions[:count]:
        layer.trainable = False


def classifier(image_shape, num_classes, width=32, name="classifier", dropout=layers.Dropout):
    """Small CNN on raw 0..255 images (at least MIN_CLASSIFIER_SIZE pixels a side) -> class probabilities; its
    penultimate Dense layer "features" (4 x `width` units) feeds the sample-quality metrics. Plain Keras layers,
    but for `dropout` (ReplicaDropout for a network that trains under tf.distribute; `portable` makes it plain)."""
    inputs = keras.Input(tuple(image_shape), name="images")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    for filters in (width, 2 * width):
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = dropout(0.25)(x)
    x = layers.Dense(4 * width, activation="relu", name="features")(x)
    x = dropout(0.5)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def convnet_features(image_shape, width=128, depth=3, seed=None, name="convnet"):
    """The dataset-condensation papers' ConvNet without its classifier: `depth` blocks of 3x3 convolution, instance
    normalisation, ReLU and 2x2 average pooling, flattened. Randomly initialised (from `seed`), it is the embedding
    distribution matching compares sets in; with a Dense head, the network condensed sets are scored by."""
    def init(i):  # PyTorch's default for convolutions, U(+-1/sqrt(fan_in)), as the papers' networks start
        return keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform", None if seed is None else seed * 100 + i)

    inputs = keras.Input(tuple(image_shape), name="images")
    x = inputs
    for i in range(depth):
        x = layers.Conv2D(width, 3, padding="same", kernel_initializer=init(i))(x)
        x = layers.GroupNormalization(groups=width, epsilon=1e-5)(x)  # one group per channel: instance norm
        x = layers.ReLU()(x)
        x = layers.AveragePooling2D(2)(x)
    return keras.Model(inputs, layers.Flatten()(x), name=name)
