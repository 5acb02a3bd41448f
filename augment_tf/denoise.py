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


import numpy as np

from augment_tf import checks, cli, data, defaults, files, runs
from augment_tf.errors import AugmentError, DataError


def read_input(run_dir, path):
    """(run config, x as stored, x in [0, 1] NHWC, whether clipped, mask as stored or None, y or None), checked
    against the run; a DataError or AugmentError in one line for what does not fit."""
    config = runs.read_vae_config(run_dir, "denoise")
    hint = "save with np.savez(path, x=noisy[, y=labels][, mask=observed])"
    arrays = data.read_npz(path, ("x",), ("y", "mask"), hint=hint)
    x, y, mask = arrays["x"], arrays.get("y"), arrays.get("mask")
    checked = data.check_images(x, path, floats=True)
    checks.image_shape(config, x, path)
    if x.dtype.kind == "f":
        x01, clipped = x.astype(np.float32), bool(x.min() >= 0 and x.max() <= 1)  # out of [0, 1]: never clipped
    else:
        x01, clipped = checked.astype(np.float32) / 255.0, True
    if mask is not None:
        checks.mask(mask, x, path)
    if y is not None:
        if not config.get("num_classes"):
            raise DataError(f"{path}: holds labels y, but {run_dir} is unconditional and cannot use them: drop y")
        checks.labels(y, len(x), config["num_classes"], path)  # optional: without, the code search estimates them
    return config, x, x01.reshape(-1, *config["image_shape"]), clipped, mask, y


def main(argv=None):
    parser = cli.parser("augment_tf.denoise", __doc__)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a train_vae.py run")
    parser.add_argument("--in", dest="inp", required=True, metavar="FILE", help=".npz with x, [y], [mask]")
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--noise-std", type=float, help="the noise's standard deviation on the 0..1 scale (default: "
                        "estimated per image)")
    parser.add_argument("--steps", type=int, default=defaults.DENOISE_STEPS,
                        help=f"gradient steps of the code search (default {defaults.DENOISE_STEPS})")
    args = parser.parse_args(argv)
    if args.steps < 1:
        raise AugmentError(f"--steps must be a positive integer, got {args.steps}")
    if args.noise_std is not None and not 0 < args.noise_std <= 1:
        raise AugmentError(f"--noise-std is a standard deviation on the 0..1 scale: above 0, at most 1; got "
                           f"{args.noise_std}")
    cli.check_output(args.out)
    with files.claim(args.out):
        config, x, x01, clipped, mask, y = read_input(args.run_dir, args.inp)
        files.check_space(args.out, x.nbytes + (0 if mask is None else mask.nbytes), f"{len(x)} denoised images")
        models = runs.load_exported(args.run_dir, ["encoder.keras", "decoder.keras"], config)  # TensorFlow loads here
        from augment_tf import posterior  # so, after the checks: --help and bad input answer without it

        observed = None if mask is None else mask.astype(bool).reshape(x01.shape)  # missing pixels are filled
        clean, noise_std = posterior.denoise(models["encoder.keras"], models["decoder.keras"], x01, args.noise_std, y,
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
