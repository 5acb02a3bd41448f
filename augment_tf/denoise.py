"""Remove additive Gaussian noise with a trained VAE: the clean image under the image's most probable code
(augment_tf.posterior).

    python -m augment_tf.denoise RUN_DIR --in noisy.npz --out clean.npz [--noise-std S] [--steps 12]

The input .npz holds `x` (uint8 0..255, or floats on the 0..1 scale; N×H×W or N×H×W×C), optionally `y` (labels, for
a conditional run; without them every class is tried and the best explanation kept) and `mask` (1 = observed,
0 = missing: noise and missing pixels in one call). Values pinned at 0 and 1 (255), what saving noisy images as
uint8 does, count as clipped noise. `--noise-std` is in pixel units of [0, 1]; without it each image's noise level
is fitted by the VAE's own likelihood and written beside the output. The output keeps the input's arrays, dtype and
shape, with `x` denoised and `noise_std` (N,) added.
"""

import argparse

import keras
import numpy as np
import tensorflow as tf

from augment_tf import cli, data, files, posterior, progress, runs
from augment_tf.errors import AugmentError, DataError

STEPS = 12  # gradient steps of the code search, chosen on validation (benchmarks/README.md, "Denoising")
LEARNING_RATE = 0.3  # Adam's, on z and log sigma alike; chosen with STEPS
START_LEVELS = np.geomspace(0.02, 0.8, 16)  # an estimated level starts from the best of these under the first code


def denoise(encoder, decoder, x01, noise_std=None, labels=None, num_classes=None, observed=None, clipped=True,
            steps=STEPS, learning_rate=LEARNING_RATE, batch_size=1000, verbose=False):
    """(denoised images in [0, 1], the noise std per image): each image's most probable code given the noisy view
    (`posterior.code_search`, started from the encoder's code for the view), then the clean image's mean given that
    code and the view (`posterior.GaussianNoise.estimate`).

    `noise_std` is a number or one per image; when None, each image's is fitted with its code (its log, by the same
    ascent, from the best of START_LEVELS under the encoder's code). A conditional decoder needs `labels`, or
    `num_classes` to search under every class and weigh the results by the softmax of their log joint, which in
    practice picks the class that explains the view best."""
    x01 = np.asarray(x01, np.float32)
    view = posterior.GaussianNoise(x01, observed, clipped)
    search = posterior.code_search(decoder, view.log_likelihood, steps, learning_rate)
    best_level = _best_level(decoder, view.log_likelihood)
    fit = noise_std is None
    given = None if fit else np.broadcast_to(np.asarray(noise_std, np.float64), (len(x01),))
    per_class = labels is None and num_classes
    classes = [np.full(len(x01), c) for c in range(num_classes)] if per_class else [labels]
    size, starts = min(batch_size, len(x01)), view.start()
    clean, sigma = np.empty(x01.shape, np.float32), np.empty(len(x01))
    with progress.shown(verbose) as keras_verbose:
        bar = keras.utils.Progbar(len(x01) * len(classes), verbose=keras_verbose, unit_name="image")
        for begin in range(0, len(x01), size):
            rows = slice(begin, begin + size)
            n = len(x01[rows])
            pad = lambda a: np.concatenate([a, np.repeat(a[:1], size - n, axis=0)])  # one compiled shape for all
            data, start = tuple(pad(a) for a in view.data(rows)), pad(starts[rows])
            found = []  # (log joint, sigma, clean estimate) under each class
            for class_labels in classes:
                cond = [] if class_labels is None else [pad(np.asarray(class_labels, np.int32)[rows])]
                z = encoder([start, *cond] if cond else start, training=False)[0]
                log_sigma = best_level(z, cond, data) if fit else np.log(pad(given[rows])).astype(np.float32)
                _, fitted, log_joint, p = search(z, log_sigma, float(fit), cond, data)
                level = np.exp(np.asarray(fitted, np.float64)[:n])
                found.append((np.asarray(log_joint, np.float64)[:n], level,
                              view.estimate(np.asarray(p, np.float64)[:n], level, rows)))
                bar.add(n)
            log_joints = np.stack([f[0] for f in found])
            weights = np.exp(log_joints - log_joints.max(axis=0))
            weights /= weights.sum(axis=0)
            clean[rows] = sum(w.reshape((n,) + (1,) * (x01.ndim - 1)) * f[2] for w, f in zip(weights, found))
            sigma[rows] = sum(w * f[1] for w, f in zip(weights, found))
    return clean, sigma if fit else given.copy()


def _best_level(decoder, log_likelihood):
    """A compiled function (z, cond, data) -> log sigma per image: the best of START_LEVELS under the codes z, where
    the search for an unknown level starts (in a few steps the ascent alone falls short at high noise)."""
    @tf.function(jit_compile=True)
    def best(z, cond, data):
        p = decoder([z, *cond] if cond else z, training=False)
        log_levels = np.log(START_LEVELS).astype(np.float32)
        scores = tf.stack([log_likelihood(p, tf.fill([tf.shape(z)[0]], level), *data) for level in log_levels])
        return tf.gather(log_levels, tf.argmax(scores, axis=0))

    return best


def read_input(run_dir, path):
    """(run config, x as stored, x in [0, 1] NHWC, whether clipped, mask as stored or None, y or None), checked
    against the run; a DataError or AugmentError in one line for what does not fit."""
    config = runs.read_vae_config(run_dir, "denoise")
    hint = "save with np.savez(path, x=noisy[, y=labels][, mask=observed])"
    arrays = data.read_npz(path, ("x",), ("y", "mask"), hint=hint)
    x, y, mask = arrays["x"], arrays.get("y"), arrays.get("mask")
    if x.ndim not in (3, 4) or x.dtype.kind not in "uif" or not len(x):
        raise DataError(f"{path}: x must be images (N, H, W) or (N, H, W, C), got {x.dtype} {x.shape}")
    runs.check_image_shape(config, x, path)
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
        classes = config["num_classes"]
        if y.ndim != 1 or len(y) != len(x) or y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= classes:
            raise DataError(f"{path}: y must be {len(x)} labels in 0..{classes - 1}")
    return config, x, x01.reshape(-1, *config["image_shape"]), clipped, mask, y


def main(argv=None):
    parser = argparse.ArgumentParser(prog=cli.prog("augment_tf.denoise"), description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a train_vae.py run")
    parser.add_argument("--in", dest="inp", required=True, metavar="FILE", help=".npz with x, [y], [mask]")
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--noise-std", type=float, help="the noise's standard deviation on the 0..1 scale (default: "
                        "estimated per image)")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"gradient steps of the code search (default {STEPS})")
    args = parser.parse_args(argv)
    if args.steps < 1:
        raise AugmentError(f"--steps must be a positive integer, got {args.steps}")
    if args.noise_std is not None and not 0 < args.noise_std <= 1:
        raise AugmentError(f"--noise-std is a standard deviation on the 0..1 scale: above 0, at most 1; got "
                           f"{args.noise_std}")
    cli.check_npz_output(args.out)
    with files.claim(args.out):
        config, x, x01, clipped, mask, y = read_input(args.run_dir, args.inp)
        models = runs.load_exported(args.run_dir, ["encoder.keras", "decoder.keras"])
        observed = None if mask is None else mask.astype(bool).reshape(x01.shape)  # missing pixels are filled
        clean, noise_std = denoise(models["encoder.keras"], models["decoder.keras"], x01, args.noise_std, y,
                                   config.get("num_classes"), observed, clipped, args.steps, verbose=True)
        out = np.rint(clean * 255).astype(x.dtype) if x.dtype.kind in "iu" else clean.astype(x.dtype)
        given = {k: v for k, v in (("y", y), ("mask", mask)) if v is not None}
        files.write_npz(args.out, x=out.reshape(x.shape), noise_std=noise_std.astype(np.float32), **given)
    level = (f"noise std {args.noise_std}" if args.noise_std
             else f"estimated noise std median {np.median(noise_std):.3f}")
    print(f"denoised {len(x)} images ({level}): {args.out}")
    return 0


if __name__ == "__main__":
    cli.run(main)
