"""Turn images into their codes under a trained VAE: each image's posterior mean and log-variance in latent space.

    python -m augment_tf.encode RUN_DIR --in data.npz --out codes.npz [--map map.png]

The input .npz holds `x` (uint8, N×H×W or N×H×W×C) and, for a conditional run (whose encoder reads labels), `y`.
The output holds `mean` and `log_var` (N×latent_dim float32) and `y` when the input has it. `--map` draws the codes
in 2-D coloured by class: the latent plane itself for a 2-dimensional code (beside a grid of images decoded across
it, as in the keras.io VAE example), else its first two principal components.
"""

import os

from augment_tf import checks, cli, data, files, latent_map, runs


def main(argv=None):
    parser = cli.parser("augment_tf.encode", __doc__)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a train_vae.py run")
    parser.add_argument("--in", dest="inp", required=True, metavar="FILE", help=".npz with x[, y]")
    parser.add_argument("--out", required=True, help="output .npz of mean, log_var[, y]")
    parser.add_argument("--map", help="also draw the codes in 2-D, coloured by class (PNG)")
    args = parser.parse_args(argv)
    cli.check_output(args.out)
    if args.map:
        cli.check_output(args.map, ".png", "--map")
    with files.claim(args.out):
        config = runs.read_vae_config(args.run_dir, "encode")
        arrays = data.read_npz(args.inp, ("x",), ("y",), hint="save with np.savez(path, x=images[, y=labels])")
        if "y" in arrays:
            x, y = data.check_arrays(arrays["x"], arrays["y"], args.inp)
        else:
            x, y = data.check_images(arrays["x"], args.inp), None
        checks.image_shape(config, x, args.inp)
        labels = checks.run_labels(config, y, len(x), args.inp, args.run_dir, "encode")  # None: unconditional
        files.check_space(args.out, len(x) * config["latent_dim"] * 2 * 4, f"the codes of {len(x)} images")
        names = ["encoder.keras", "decoder.keras"] if args.map else ["encoder.keras"]
        models = runs.load_exported(args.run_dir, names, config)  # TensorFlow loads here
        from augment_tf import posterior  # so, after the checks: --help and bad input answer without it

        mean, log_var = posterior.encode(models["encoder.keras"], x / 255.0, labels)
        if args.map:
            latent_map.draw_map(args.map, mean, y, models.get("decoder.keras"), None if labels is None else 0)
        files.write_npz(args.out, mean=mean, log_var=log_var, **({} if y is None else {"y": y}))  # last, as --out
    print(f"encoded {len(x)} images into {mean.shape[1]}-dimensional codes: {os.fspath(args.out)}")
    return 0


if __name__ == "__main__":
    cli.run(main)
