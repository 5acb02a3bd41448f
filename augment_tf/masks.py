"""Masks of missing pixels (uint8, 1 = observed) to try imputation on: at random, a block, a half."""

import numpy as np


def random_pixel_mask(shape, missing_fraction, rng):
    """uint8 mask (1 = observed): each pixel missing with probability `missing_fraction`, all channels alike."""
    observed = rng.random(tuple(shape[:3])) >= missing_fraction
    return _broadcast(observed, shape)


def block_mask(shape, block, rng):
    """uint8 mask (1 = observed) with one `block`×`block` square (or (h, w) rectangle) missing per image."""
    n, height, width = shape[:3]
    bh, bw = (block, block) if np.isscalar(block) else block
    top, left = rng.integers(0, height - bh + 1, n), rng.integers(0, width - bw + 1, n)
    rows, cols = np.arange(height)[None, :, None], np.arange(width)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < (top + bh)[:, None, None])
              & (cols >= left[:, None, None]) & (cols < (left + bw)[:, None, None]))
    return _broadcast(~inside, shape)


def half_mask(shape, side="bottom"):
    """uint8 mask (1 = observed) with the `side` half ("bottom", "top", "left", "right") missing."""
    n, height, width = shape[:3]
    observed = np.ones((n, height, width), bool)
    half = {"bottom": np.s_[:, height // 2 :], "top": np.s_[:, : height // 2],
            "left": np.s_[:, :, : width // 2], "right": np.s_[:, :, width // 2 :]}
    if side not in half:
        raise ValueError(f"side must be one of {sorted(half)}, got {side!r}")
    observed[half[side]] = False
    return _broadcast(observed, shape)


def _broadcast(observed, shape):
    """(N, H, W) bool -> uint8 mask of `shape` (the channel axis, if any, repeats the pixel mask)."""
    mask = observed.astype(np.uint8)
    return np.broadcast_to(mask[..., None], tuple(shape)).copy() if len(shape) == 4 else mask
