"""Random shifts, rotations, zooms and erased squares of an image batch inside `train_step`: more from few images.

Differentiable, so a GAN's discriminator can see real and generated images through the same random view
and the generator still learns the unaugmented images (DiffAugment, Zhao et al. 2020).
"""

import math

import keras
from keras import ops

from augment_tf.models import replicas

SHIFT = 0.1  # of the image's width and height, either way
ROTATION = 10.0  # degrees, either way
ZOOM = 0.1  # scale drawn from [1 - ZOOM, 1 + ZOOM]


def random_affine(images, seed_generator, fill_value=0.0, shift=SHIFT, rotation=ROTATION, zoom=ZOOM):
    """Each image of a (B, H, W, C) batch moved by its own random shift, rotation and zoom about its centre
    (bilinear; uncovered pixels get `fill_value`, the background), with randomness from `seed_generator`."""
    height, width = images.shape[1], images.shape[2]
    draw = lambda bound: replicas.rows(
        lambda shape: keras.random.uniform(shape, -bound, bound, seed=seed_generator), (ops.shape(images)[0],)
    )
    angle = draw(rotation) * (math.pi / 180.0)
    scale = 1.0 / (1.0 + draw(zoom))  # the transform maps output pixels to input ones
    shift_x, shift_y = draw(shift) * width, draw(shift) * height
    a0, a1 = scale * ops.cos(angle), -scale * ops.sin(angle)
    b0, b1 = scale * ops.sin(angle), scale * ops.cos(angle)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    a2 = cx - a0 * cx - a1 * cy - shift_x
    b2 = cy - b0 * cx - b1 * cy - shift_y
    zeros = ops.zeros_like(a0)
    transform = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return ops.image.affine_transform(
        images, transform, interpolation="bilinear", fill_mode="constant", fill_value=fill_value
    )


def random_erase(images, seed_generator, size=0.3, fill_value=0.0):
    """Each image of a (B, H, W, C) batch with one square of side `size` x its height (cut at the borders),
    centred on a random pixel, set to `fill_value` (Cutout, DeVries & Taylor 2017)."""
    height, width = images.shape[1], images.shape[2]
    half = size * height / 2.0
    centre = lambda extent: replicas.rows(
        lambda shape: keras.random.uniform(shape, 0, extent, seed=seed_generator), (ops.shape(images)[0], 1, 1, 1)
    )
    cy, cx = centre(height), centre(width)
    rows = ops.reshape(ops.arange(height, dtype="float32"), (1, height, 1, 1)) + 0.5
    cols = ops.reshape(ops.arange(width, dtype="float32"), (1, 1, width, 1)) + 0.5
    inside = ops.logical_and(ops.abs(rows - cy) < half, ops.abs(cols - cx) < half)
    return ops.where(inside, ops.cast(fill_value, images.dtype), images)
