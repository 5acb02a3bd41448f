"""Pictures of a training run: how its samples grew, what it draws for each class, and (VAE runs) how it
reconstructs and repairs real digits.

    augment-tf pictures RUN_DIR --out DIR [--data-dir DIR] [--seed 0]

Writes DIR/progress.gif (the per-epoch sample grids of RUN_DIR/samples/ as an animation), DIR/samples.png (ten
samples a row, one row per class for a conditional run) and, for VAE runs, DIR/reconstructions.png (test images
above their reconstructions) and DIR/imputation.png (test images with the bottom half missing, repaired by
`impute`, and the originals; augment_tf.figures draws them). Images are scaled up by --scale (default 2) with whole
pixels, for screens.
"""

import os

import numpy as np

from augment_tf import cli, files, images, runs
from augment_tf.errors import AugmentError


def main(argv=None):
    parser = cli.parser("augment_tf.pictures", __doc__)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a train_gan.py or train_vae.py run")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the pictures (made if missing)")
    parser.add_argument("--data-dir", help="test images for the VAE pictures (default: the run's data)")
    parser.add_argument("--scale", type=int, default=2, help="pixels per image pixel (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same samples")
    cli.add_temperature(parser)
    args = parser.parse_args(argv)
    if args.scale < 1:
        raise AugmentError(f"--scale must be a positive integer, got {args.scale}")
    if os.path.isfile(args.out):
        raise AugmentError(f"{args.out} is a file; --out is a folder for the pictures")
    sampler, config = runs.load_sampler(args.run_dir)  # TensorFlow loads here, after the arguments are checked
    from augment_tf import figures

    frames = figures.progress_frames(args.run_dir)
    drawn = {"samples.png": figures.class_samples(sampler, config, seed=args.seed,
                                                  temperature=cli.temperature(args, config))}  # all drawn before any is written
    if config["model"].endswith("VAE"):
        models = runs.load_exported(args.run_dir, ["encoder.keras", "decoder.keras"], config)
        encoder, decoder = models["encoder.keras"], models["decoder.keras"]
        x, y = figures.test_images(config, args.data_dir, per_class=2)
        labels = y if config["num_classes"] else None
        drawn["reconstructions.png"] = images.grid(np.concatenate([x, figures.reconstructions(encoder, decoder, x,
                                                                                               labels)]), rows=2)
        x, y = figures.test_images(config, args.data_dir)
        rows = figures.imputation_rows(encoder, decoder, x, y if config["num_classes"] else None, seed=args.seed)
        drawn["imputation.png"] = images.grid(np.concatenate(rows), rows=3)
    written = [os.path.join(args.out, "progress.gif")]
    figures.write_gif(written[0], frames, config.get("epochs"), args.scale)
    for name, picture in drawn.items():
        written.append(os.path.join(args.out, name))
        files.write_png(written[-1], figures.upscale(picture, args.scale))
    print("wrote " + ", ".join(written))
    return 0


if __name__ == "__main__":
    cli.run(main)
