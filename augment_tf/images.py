"""Conversions between uint8 images (0..255, NHWC) and model ranges, and sample grids."""

import numpy as np


def to_unit_range(x):
    """uint8 0..255 -> float32 in [0, 1]."""
    return np.asarray(x, np.float32) / 255.0


def to_model_range(x, value_range=(-1.0, 1.0)):
    """uint8 0..255 -> float32 in `value_range`, the scaling training applies."""
    low, high = value_range
    return to_unit_range(x) * (high - low) + low


def from_model_range(x, value_range=(-1.0, 1.0)):
    """Model outputs in `value_range` -> uint8 0..255 (clipped, rounded)."""
    low, high = value_range
    x = (np.asarray(x, np.float32) - low) / (high - low)
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def grid(images, rows, pad=2):
    """Tiles uint8 images (N, H, W, C) into one (rows*H', cols*W', C) uint8 image, row-major."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    cols = -(-n // rows)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        out[y : y + h, x : x + w] = image
    return out


def for_file(x):
    """Grayscale images are stored as N×H×W (the MNIST layout); colour ones as N×H×W×C."""
    return x[..., 0] if x.shape[-1] == 1 else x
