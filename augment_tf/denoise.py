"""Remove additive Gaussian noise with a trained VAE: the posterior mean of the clean image (augment_tf.posterior).

    python -m augment_tf.denoise RUN_DIR --in noisy.npz --out clean.npz [--noise-std S] [--iterations 20] [--seed 0]

The input .npz holds `x` (uint8 0..255, or floats on the 0..1 scale; N×H×W or N×H×W×C), optionally `y` (labels, for
a conditional run; without them the classes are marginalised) and `mask` (1 = observed, 0 = missing: noise and
missing pixels in one call). Values pinned at 0 and 1 (255), what saving noisy images as uint8 does, count as
clipped noise. `--noise-std` is in pixel units of [0, 1]; without it each image's noise level is estimated by the
VAE's own likelihood and written beside the output. The output keeps the input's arrays, dtype and shape, with `x`
denoised and `noise_std` (N,) added.
"""

import argparse

import numpy as np

from augment_tf import cli, data, files, posterior, progress, runs
from augment_tf.errors import AugmentError, DataError

ITERATIONS = 20
NOISE_STDS = np.geomspace(0.02, 0.8, 16)  # the levels the estimate chooses among, per image
ESTIMATE_ITERATIONS = 4  # chain iterations of the estimate, whose proposals score every level at once
ESTIMATE_FROM = 0.3  # the level the estimate's chain targets


def denoise(encoder, decoder, x01, noise_std=None, labels=None, num_classes=None, observed=None, clipped=True,
            iterations=ITERATIONS, seed=0, batch_size=1000, verbose=False):
    """(denoised images in [0, 1], the noise std per image): the posterior mean under `posterior.GaussianNoise`.

    `noise_std` (a number or one per image) or, when None, the level among NOISE_STDS whose evidence log p(x) is
    highest for each image (estimated from one short chain's proposals). A conditional decoder needs `labels`, or
    `num_classes` to average over every class weighted by its evidence."""
    x01 = np.asarray(x01, np.float32)
    observed = np.ones(x01.shape, bool) if observed is None else np.asarray(observed, bool)
    run = lambda stds, steps, levels=(): _run(encoder, decoder, x01, stds, labels, num_classes, observed, clipped,
                                             steps, seed, batch_size, verbose, levels)
    if noise_std is None:
        _, _, by_level = run(np.full(len(x01), ESTIMATE_FROM), ESTIMATE_ITERATIONS, NOISE_STDS)
        noise_std = NOISE_STDS[np.argmax(by_level, axis=0)]
    noise_std = np.broadcast_to(np.asarray(noise_std, np.float64), (len(x01),)).copy()
    return run(noise_std, iterations)[0], noise_std


def _run(encoder, decoder, x01, noise_std, labels, num_classes, observed, clipped, iterations, seed, batch_size,
         verbose, levels=()):
    """(posterior means, log evidence, log evidence at each of `levels` (K, N)) at known noise levels; without
    labels on a conditional decoder, the mixture over classes, each weighted by its evidence (a uniform prior)."""
    def view_of(rows, stds=noise_std):
        return posterior.GaussianNoise(x01[rows], stds[rows], observed[rows], clipped)

    also_of = (lambda rows: [view_of(rows, np.full(len(x01), s)) for s in levels]) if len(levels) else None
    run = lambda class_labels: posterior.batched(encoder, decoder, x01, class_labels, view_of, iterations, seed,
                                                 batch_size, verbose, also_of)
    if labels is not None or not num_classes:
        return run(labels)
    per_class = [run(np.full(len(x01), c)) for c in range(num_classes)]
    log_evidence = np.stack([e for _, e, _ in per_class])  # (classes, N)
    weights = np.exp(log_evidence - log_evidence.max(axis=0))
    weights /= weights.sum(axis=0)
    shape = (len(x01),) + (1,) * (x01.ndim - 1)
    mean = sum(m * w.reshape(shape) for (m, _, _), w in zip(per_class, weights))
    average = lambda logs: np.logaddexp.reduce(logs, axis=0) - np.log(num_classes)  # over a uniform class prior
    return (mean.astype(np.float32), average(log_evidence),
            average(np.stack([a for _, _, a in per_class])))


def read_input(run_dir, path):
    """(run config, x as stored, x in [0, 1] NHWC, whether clipped, mask as stored or None, y or None), checked
    against the run; a DataError or AugmentError in one line for what does not fit."""
    config = runs.read_json(run_dir, runs.CONFIG)
    if not config.get("model", "").endswith("VAE"):
        raise AugmentError(f"denoise needs a VAE run; {run_dir} is a {config.get('model', 'GAN')} run: train one with "
                           "train_vae.py")
    hint = "save with np.savez(path, x=noisy[, y=labels][, mask=observed])"
    arrays = data.read_npz(path, ("x",), ("y", "mask"), hint=hint)
    x, y, mask = arrays["x"], arrays.get("y"), arrays.get("mask")
    if x.ndim not in (3, 4) or x.dtype.kind not in "uif" or not len(x):
        raise DataError(f"{path}: x must be images (N, H, W) or (N, H, W, C), got {x.dtype} {x.shape}")
    shape = list(x.shape[1:]) + ([1] if x.ndim == 3 else [])
    if shape != list(config["image_shape"]):
        raise DataError(f"{path}: images are {tuple(shape)} but the run was trained on {config['image_shape']}")
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise DataError(f"{path}: x holds NaN or infinite values")
        x01, clipped = x.astype(np.float32), bool(x.min() >= 0 and x.max() <= 1)  # out of [0, 1]: never clipped
    else:
        if x.min() < 0 or x.max() > 255:
            raise DataError(f"{path}: integer images must be 0..255, found {x.min()}..{x.max()}")
        x01, clipped = x.astype(np.float32) / 255.0, True
    if mask is not None and (mask.shape != x.shape or not np.isin(mask, (0, 1)).all()):
        raise DataError(f"{path}: mask must have x's shape {x.shape} and hold only 0 (missing) and 1 (observed)")
    if y is not None:
        if not config.get("num_classes"):
            raise DataError(f"{path}: holds labels y, but {run_dir} is unconditional and cannot use them: drop y")
        if y.ndim != 1 or len(y) != len(x) or y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= config["num_classes"]:
            raise DataError(f"{path}: y must be {len(x)} labels in 0..{config['num_classes'] - 1}")
    return config, x, x01.reshape(-1, *config["image_shape"]), clipped, mask, y


def main(argv=None):
    parser = argparse.ArgumentParser(prog=cli.prog("augment_tf.denoise"), description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a train_vae.py run")
    parser.add_argument("--in", dest="inp", required=True, metavar="FILE", help=".npz with x, [y], [mask]")
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--noise-std", type=float, help="the noise's standard deviation on the 0..1 scale (default: "
                        "estimated per image)")
    parser.add_argument("--iterations", type=int, default=ITERATIONS, help=f"chain length (default {ITERATIONS})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.iterations < 1:
        raise AugmentError(f"--iterations must be a positive integer, got {args.iterations}")
    if args.noise_std is not None and not 0 < args.noise_std <= 1:
        raise AugmentError(f"--noise-std is a standard deviation on the 0..1 scale: above 0, at most 1; got "
                           f"{args.noise_std}")
    cli.check_npz_output(args.out)
    with files.claim(args.out):
        config, x, x01, clipped, mask, y = read_input(args.run_dir, args.inp)
        models = runs.load_exported(args.run_dir, ["encoder.keras", "decoder.keras"])
        if args.noise_std is None:
            progress.note(f"estimating each image's noise level among {len(NOISE_STDS)} ...", True)
        observed = None if mask is None else mask.astype(bool).reshape(x01.shape)  # missing pixels are filled
        clean, noise_std = denoise(models["encoder.keras"], models["decoder.keras"], x01, args.noise_std, y,
                                   config.get("num_classes"), observed, clipped, args.iterations, args.seed,
                                   verbose=True)
        out = np.rint(clean * 255).astype(x.dtype) if x.dtype.kind in "iu" else clean.astype(x.dtype)
        given = {k: v for k, v in (("y", y), ("mask", mask)) if v is not None}
        files.write_npz(args.out, x=out.reshape(x.shape), noise_std=noise_std.astype(np.float32), **given)
    level = f"noise std {args.noise_std}" if args.noise_std else f"estimated noise std median {np.median(noise_std):.3f}"
    print(f"denoised {len(x)} images ({level}): {args.out}")
    return 0


if __name__ == "__main__":
    cli.run(main)
