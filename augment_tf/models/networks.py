"""Layer stacks shared by the GAN and VAE: DCGAN-style up- and down-sampling convolutions.

Images are (H, W, C) with H and W divisible by 4 (28x28 MNIST, 32x32 CIFAR). Class conditioning
is optional everywhere: pass `num_classes` and the network takes a second input, integer labels.
"""

import keras
import numpy as np
from keras import layers, ops


def _check_image_shape(image_shape):
    height, width, _ = image_shape
    if height % 4 or width % 4:
        raise ValueError(f"image height and width must be divisible by 4, got {tuple(image_shape)}")


def _with_label(first_input, x, num_classes, embed_dim):
    """(model inputs, tensor): `first_input` and `x`, or [first_input, label] and `x` joined to a label embedding."""
    if not num_classes:
        return first_input, x
    label = keras.Input(shape=(), dtype="int32", name="label")
    embedding = layers.Embedding(num_classes, embed_dim, name="label_embedding")(label)
    return [first_input, label], layers.Concatenate()([x, embedding])


def upsampler(image_shape, input_dim, num_classes=None, width=64, activation="tanh", name="generator"):
    """Vector (plus label) -> image: dense to (H/4, W/4), two stride-2 transposed convs, BatchNorm + ReLU."""
    _check_image_shape(image_shape)
    height, width_px, channels = image_shape
    vector = keras.Input(shape=(input_dim,), name="z")
    inputs, x = _with_label(vector, vector, num_classes, embed_dim=input_dim)
    x = layers.Dense((height // 4) * (width_px // 4) * width * 2, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Reshape((height // 4, width_px // 4, width * 2))(x)
    x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    outputs = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation=activation)(x)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="augment_tf")
class MinibatchStddev(layers.Layer):
    """Appends the batch's mean feature standard deviation as one more channel (Karras et al. 2018): the
    discriminator can then tell a batch short of variety, which pushes the generator to cover more modes."""

    def call(self, x):
        spread = ops.mean(ops.sqrt(ops.var(x, axis=0) + 1e-8))  # the epsilon keeps the gradient finite at 0
        return ops.concatenate([x, ops.ones_like(x[..., :1]) * spread], axis=-1)


def downsampler(image_shape, num_classes=None, width=64, minibatch_std=False, name="discriminator"):
    """Image -> flat features through two stride-2 convs with LeakyReLU; returns (inputs, features)."""
    _check_image_shape(image_shape)
    image = keras.Input(shape=tuple(image_shape), name="image")
    x = layers.Conv2D(width, 4, strides=2, padding="same")(image)
    x = layers.LeakyReLU(0.2)(x)
    if minibatch_std:
        x = MinibatchStddev()(x)
    x = layers.Conv2D(width * 2, 4, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
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
