"""Fill in missing pixels with a trained VAE: the posterior mean, importance-weighted along a Metropolis-within-Gibbs
chain (Mattei & Frellsen 2018; augment_tf.posterior).

    python -m augment_tf.impute RUN_DIR --in masked.npz --out repaired.npz [--iterations 100] [--seed 0]

The input .npz holds `x` (uint8, N×H×W or N×H×W×C, the layout `generate` writes), `mask` (same shape,
1 = observed, 0 = missing) and, for conditional runs, `y`. The output has the same arrays with the missing
pixels of `x` filled; observed pixels are copied from the input unchanged. A bar of the chain's iterations shows on
stderr; a second command given the same --out refuses while the first runs (`files.claim`).
"""

import argparse

import numpy as np

from augment_tf import cli, data, files, images, posterior, runs
from augment_tf.errors import AugmentError, DataError

ITERATIONS = 100


def impute(encoder, decoder, x01, mask, labels=None, iterations=ITERATIONS, seed=0, batch_size=1000, verbose=False):
    """Float images (N, H, W, C) in [0, 1]: observed pixels of `x01` kept, missing ones their posterior mean
    (`posterior.posterior_mean` under `posterior.MissingPixels`: the encoder never saw missing pixels, so the chain
    steers its proposals). `encoder` maps images (+ labels) to [mean, log_var]; `decoder` maps z (+ labels) to
    pixel probabilities. `verbose` shows a bar of the iterations of every batch on stderr."""
    x01, mask = np.asarray(x01, np.float32), np.asarray(mask).astype(bool)
    return np.where(mask, x01, posterior.batched(
        encoder, decoder, x01, labels, lambda part: posterior.MissingPixels(x01[part], mask[part]), iterations, seed,
        batch_size, verbose))


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


def load_masked(path):
    """x (uint8), mask (as stored), y or None from an impute input .npz, checked; DataError says what is wrong."""
    hint = "save with np.savez(path, x=images, mask=observed[, y=labels])"
    arrays = data.read_npz(path, ("x", "mask"), ("y",), hint=hint)
    x, mask, y = arrays["x"], arrays["mask"], arrays.get("y")
    if x.ndim not in (3, 4) or x.dtype.kind not in "iu" or (x.size and (x.min() < 0 or x.max() > 255)):
        raise DataError(f"{path}: x must be uint8 images (N, H, W) or (N, H, W, C), got {x.dtype} {x.shape}")
    if mask.shape != x.shape:
        raise DataError(f"{path}: mask has shape {mask.shape} but x has {x.shape}; they must match")
    if not np.isin(mask, (0, 1)).all():
        raise DataError(f"{path}: mask must hold only 0 (missing) and 1 (observed), found {np.unique(mask)[:5]}")
    if y is not None and (y.ndim != 1 or len(y) != len(x) or y.dtype.kind not in "iu"):
        raise DataError(f"{path}: y must be {len(x)} integer labels, got {y.dtype} {y.shape}")
    return x.astype(np.uint8), mask, y


def read_input(run_dir, path):
    """(run config, x, mask, y) of an impute input checked against the run: a VAE run, its image shape, its labels."""
    config = runs.read_vae_config(run_dir, "impute")
    x, mask, y = load_masked(path)
    runs.check_image_shape(config, x, path)
    if config.get("num_classes"):
        if y is None:
            raise DataError(f"{path}: {run_dir} is conditional: impute needs the labels y")
        if y.min(initial=0) < 0 or y.max(initial=0) >= config["num_classes"]:
            raise DataError(f"{path}: labels must be in 0..{config['num_classes'] - 1}")
    return config, x, mask, y


def main(argv=None):
    parser = argparse.ArgumentParser(prog=cli.prog("augment_tf.impute"), description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a train_vae.py run")
    parser.add_argument("--in", dest="inp", required=True, metavar="FILE", help=".npz with x, mask (1 = observed), [y]")
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--iterations", type=int, default=ITERATIONS, help=f"chain length (default {ITERATIONS})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.iterations < 1:
        raise AugmentError(f"--iterations must be a positive integer, got {args.iterations}")
    cli.check_npz_output(args.out)
    with files.claim(args.out):
        config, x, mask, y = read_input(args.run_dir, args.inp)
        models = runs.load_exported(args.run_dir, ["encoder.keras", "decoder.keras"])
        nhwc, observed = x.reshape(-1, *config["image_shape"]), mask.astype(bool)
        filled = impute(models["encoder.keras"], models["decoder.keras"], nhwc / 255.0, observed.reshape(nhwc.shape),
                        y if config.get("num_classes") else None, args.iterations, args.seed, verbose=True)
        repaired = images.from_model_range(filled, (0.0, 1.0)).reshape(x.shape)
        arrays = {"x": np.where(observed, x, repaired), "mask": mask}
        files.write_npz(args.out, **arrays, **({} if y is None else {"y": y}))
    print(f"imputed {int((~observed).sum())} missing pixels in {len(x)} images: {args.out}")
    return 0


if __name__ == "__main__":
    cli.run(main)
