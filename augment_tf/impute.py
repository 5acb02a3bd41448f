"""Fill in missing pixels with a trained VAE: the posterior mean, importance-weighted along a Metropolis-within-Gibbs
chain (Mattei & Frellsen 2018; augment_tf.posterior).

    python -m augment_tf.impute RUN_DIR --in masked.npz --out repaired.npz [--iterations 100] [--seed 0]

The input .npz holds `x` (uint8, N×H×W or N×H×W×C, the layout `generate` writes), `mask` (same shape,
1 = observed, 0 = missing) and, for conditional runs, `y`. The output has the same arrays with the missing
pixels of `x` filled; observed pixels are copied from the input unchanged. A bar of the chain's iterations shows on
stderr; a second command given the same --out refuses while the first runs (`files.claim`).
"""


import numpy as np

from augment_tf import checks, cli, data, defaults, files, images, runs
from augment_tf.errors import AugmentError, DataError


def load_masked(path):
    """x (uint8), mask (as stored), y or None from an impute input .npz, checked; DataError says what is wrong."""
    hint = "save with np.savez(path, x=images, mask=observed[, y=labels])"
    arrays = data.read_npz(path, ("x", "mask"), ("y",), hint=hint)
    x, mask, y = arrays["x"], arrays["mask"], arrays.get("y")
    x = data.check_images(x, path).reshape(x.shape)  # the layout it came in, which the output keeps
    checks.mask(mask, x, path)
    if y is not None and (y.ndim != 1 or len(y) != len(x) or y.dtype.kind not in "iu"):
        raise DataError(f"{path}: y must be {len(x)} integer labels, got {y.dtype} {y.shape}")
    return x, mask, y


def read_input(run_dir, path):
    """(run config, x, mask, y) of an impute input checked against the run: a VAE run, its image shape, its labels."""
    config = runs.read_vae_config(run_dir, "impute")
    x, mask, y = load_masked(path)
    checks.image_shape(config, x, path)
    checks.run_labels(config, y, len(x), path, run_dir, "impute")
    return config, x, mask, y


def main(argv=None):
    parser = cli.parser("augment_tf.impute", __doc__)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a train_vae.py run")
    parser.add_argument("--in", dest="inp", required=True, metavar="FILE", help=".npz with x, mask (1 = observed), [y]")
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--iterations", type=int, default=defaults.IMPUTE_ITERATIONS,
                        help=f"chain length (default {defaults.IMPUTE_ITERATIONS})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.iterations < 1:
        raise AugmentError(f"--iterations must be a positive integer, got {args.iterations}")
    cli.check_output(args.out)
    with files.claim(args.out):
        config, x, mask, y = read_input(args.run_dir, args.inp)
        files.check_space(args.out, x.nbytes + mask.nbytes, f"{len(x)} repaired images")
        models = runs.load_exported(args.run_dir, ["encoder.keras", "decoder.keras"], config)  # TensorFlow loads here
        from augment_tf import posterior  # so, after the checks: --help and bad input answer without it

        nhwc, observed = x.reshape(-1, *config["image_shape"]), mask.astype(bool)
        labels = y if config.get("num_classes") else None
        filled = posterior.impute(models["encoder.keras"], models["decoder.keras"], nhwc / 255.0,
                                  observed.reshape(nhwc.shape), labels, args.iterations, args.seed, verbose=True)
        repaired = images.from_model_range(filled, (0.0, 1.0)).reshape(x.shape)
        arrays = {"x": np.where(observed, x, repaired), "mask": mask}
        files.write_npz(args.out, **arrays, **({} if y is None else {"y": y}))
    print(f"imputed {int((~observed).sum())} missing pixels in {len(x)} images: {args.out}")
    return 0


if __name__ == "__main__":
    cli.run(main)
