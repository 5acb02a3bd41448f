"""Fill in missing pixels with a trained VAE: the posterior mean, importance-weighted along a Metropolis-within-Gibbs
chain (Mattei & Frellsen 2018).

    python -m augment_tf.impute RUN_DIR --in masked.npz --out repaired.npz [--iterations 100] [--seed 0]

The input .npz holds `x` (uint8, N×H×W or N×H×W×C, the layout `generate` writes), `mask` (same shape,
1 = observed, 0 = missing) and, for conditional runs, `y`. The output has the same arrays with the missing
pixels of `x` filled; observed pixels are copied from the input unchanged. A bar of the chain's iterations shows on
stderr; a second command given the same --out refuses while the first runs (`files.claim`).
"""

import argparse

import keras
import numpy as np

from augment_tf import cli, data, files, images, progress, runs
from augment_tf.errors import AugmentError, DataError

ITERATIONS = 100
PROPOSALS = 5  # latent proposals per iteration, all of them importance-weighted
SPREAD = 1.5  # proposal standard deviation relative to the encoder's: heavier tails, steadier weights


def impute(encoder, decoder, x01, mask, labels=None, iterations=ITERATIONS, seed=0, batch_size=1000, verbose=False):
    """Float images (N, H, W, C) in [0, 1]: observed pixels of `x01` kept, missing ones their posterior mean.

    Each image runs a Metropolis-within-Gibbs chain on z whose target is p(z | observed pixels) (Mattei &
    Frellsen 2018): proposals come from the encoder's q(z | observed, missing filled with E[x | z] of the current
    state), widened by SPREAD. The chain only steers the proposals; the fill is E[x_missing | z] averaged over
    every proposal with importance weight p(x_observed, z) / proposal density, a self-normalised estimate of the
    posterior mean that the chain itself (stuck in one mode for long stretches) estimates poorly.
    `encoder` maps images (+ labels) to [mean, log_var]; `decoder` maps z (+ labels) to pixel probabilities.
    `verbose` shows a bar of the iterations of every batch on stderr.
    """
    x01, mask = np.asarray(x01, np.float32), np.asarray(mask).astype(bool)
    rng = np.random.default_rng(seed)
    out = np.empty_like(x01)
    with progress.shown(verbose) as keras_verbose:
        bar = keras.utils.Progbar(-(-len(x01) // batch_size) * iterations, verbose=keras_verbose, unit_name="iteration")
        for start in range(0, len(x01), batch_size):
            part = slice(start, start + batch_size)
            cond = [] if labels is None else [np.asarray(labels, np.int32)[part]]
            out[part] = _posterior_mean(encoder, decoder, x01[part], mask[part], cond, iterations, rng, bar)
    return np.where(mask, x01, out)


def _posterior_mean(encoder, decoder, x, observed, cond, iterations, rng, bar):
    """The chain and the importance-weighted fill for one batch (N, H, W, C); `bar` counts its iterations."""
    inputs = lambda first: [first, *cond] if cond else first
    decode = lambda z: np.asarray(decoder(inputs(z.astype(np.float32)), training=False), np.float32)
    fill = lambda probabilities: np.where(observed, x, probabilities)

    def proposal(filled):
        """(mean, log_var) of the widened encoder Gaussian for images with their missing pixels filled."""
        mean, log_var = [np.asarray(t, np.float64) for t in encoder(inputs(filled), training=False)]
        return mean, log_var + 2 * np.log(SPREAD)

    def log_joint(z, probabilities):
        """log p(x_observed | z) + log p(z), up to a constant."""
        p = np.clip(probabilities, 1e-6, 1 - 1e-6)
        log_px = np.where(observed, x * np.log(p) + (1 - x) * np.log1p(-p), 0.0).reshape(len(x), -1).sum(axis=1)
        return log_px - 0.5 * np.sum(z**2, axis=1)

    def log_density(z, mean, log_var):
        return -0.5 * np.sum((z - mean) ** 2 / np.exp(log_var) + log_var, axis=1)

    z = proposal(fill(np.zeros_like(x)))[0]
    probabilities = decode(z)
    current = proposal(fill(probabilities))
    target = log_joint(z, probabilities)
    log_weights, weighted = np.full(len(x), -np.inf), np.zeros_like(x, np.float64)
    for _ in range(iterations):
        for k in range(PROPOSALS):
            candidate = current[0] + np.exp(0.5 * current[1]) * rng.standard_normal(current[0].shape)
            candidate_probabilities = decode(candidate)
            candidate_target = log_joint(candidate, candidate_probabilities)
            # running self-normalised sum, kept in log space against overflow
            log_w = candidate_target - log_density(candidate, *current)
            top = np.maximum(log_weights, log_w)
            old, new = np.exp(log_weights - top), np.exp(log_w - top)
            weighted = (weighted * old[:, None, None, None] + candidate_probabilities * new[:, None, None, None])
            weighted /= (old + new)[:, None, None, None]
            log_weights = top + np.log(old + new)
            if k == 0:  # the Metropolis-Hastings move uses the first proposal
                reverse = proposal(fill(candidate_probabilities))
                log_ratio = (candidate_target + log_density(z, *reverse)) - (target + log_density(candidate, *current))
                accept = np.log(rng.random(len(x))) < log_ratio
                z = np.where(accept[:, None], candidate, z)
                target = np.where(accept, candidate_target, target)
                current = [np.where(accept[:, None], after, before) for after, before in zip(reverse, current)]
        bar.add(1)
    return weighted.astype(np.float32)


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
    config = runs.read_json(run_dir, runs.CONFIG)
    if not config.get("model", "").endswith("VAE"):  # VAE runs export decoder.keras and encoder.keras
        raise AugmentError(f"impute needs a VAE run; {run_dir} is a {config.get('model', 'GAN')} run")
    x, mask, y = load_masked(path)
    shape = list(x.shape[1:]) + ([1] if x.ndim == 3 else [])
    if shape != list(config["image_shape"]):
        raise DataError(f"{path}: images are {tuple(shape)} but the run was trained on {config['image_shape']}")
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
