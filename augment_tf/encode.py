"""Turn images into their codes under a trained VAE: each image's posterior mean and log-variance in latent space.

    python -m augment_tf.encode RUN_DIR --in data.npz --out codes.npz [--map map.png]

The input .npz holds `x` (uint8, N×H×W or N×H×W×C) and, for a conditional run (whose encoder reads labels), `y`.
The output holds `mean` and `log_var` (N×latent_dim float32) and `y` when the input has it. `--map` draws the codes
in 2-D coloured by class: the latent plane itself for a 2-dimensional code (beside a grid of images decoded across
it, as in the keras.io VAE example), else its first two principal components.
"""

import argparse
import os

import numpy as np

from augment_tf import cli, data, files, runs
from augment_tf.errors import AugmentError, DataError

BATCH = 1000


def encode(encoder, x01, labels=None):
    """(mean, log_var) float32 (N, latent_dim) of images `x01` in [0, 1] (+ labels for a conditional encoder)."""
    parts = []
    for start in range(0, len(x01), BATCH):
        images = np.asarray(x01[start:start + BATCH], np.float32)
        inputs = images if labels is None else [images, np.asarray(labels[start:start + BATCH], np.int32)]
        parts.append([np.asarray(t, np.float32) for t in encoder(inputs, training=False)])
    return tuple(np.concatenate(p) for p in zip(*parts))


def principal_plane(codes):
    """The codes projected on their first two principal components (N, 2), and the share of variance they hold."""
    centred = codes - codes.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    return centred @ axes[:2].T, float(np.sum(singular[:2] ** 2) / np.sum(singular**2))


def draw_map(path, mean, y, decoder=None, label=None):
    """A scatter of the codes in 2-D, coloured by class; for a 2-D code with a `decoder`, a grid of decoded images
    across the plane beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plane, share = (mean, 1.0) if mean.shape[1] == 2 else principal_plane(mean)
    panels = 2 if decoder is not None and mean.shape[1] == 2 else 1
    figure, axes = plt.subplots(1, panels, figsize=(6 * panels, 5.5), squeeze=False)
    scatter = axes[0, 0].scatter(plane[:, 0], plane[:, 1], c=y if y is not None else "k", s=2, cmap="tab10")
    if y is not None:
        figure.colorbar(scatter, ax=axes[0, 0], label="class")
    axes[0, 0].set_title("codes (posterior means)" if mean.shape[1] == 2 else
                         f"codes on their first two principal components ({share:.0%} of the variance)")
    if panels == 2:
        n, size = 15, None
        grid = np.linspace(*np.percentile(plane, [1, 99], axis=0), n)  # (n, 2): the populated part of the plane
        z = np.array([[a, b] for b in grid[::-1, 1] for a in grid[:, 0]], np.float32)
        inputs = z if label is None else [z, np.full(len(z), label, np.int32)]
        tiles = np.asarray(decoder(inputs, training=False))[..., 0]
        size = tiles.shape[1]
        axes[0, 1].imshow(tiles.reshape(n, n, size, size).transpose(0, 2, 1, 3).reshape(n * size, n * size),
                          cmap="gray")
        axes[0, 1].set_axis_off()
        axes[0, 1].set_title("decoded across the plane" + ("" if label is None else f" (class {label})"))
    with files.atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(prog=cli.prog("augment_tf.encode"), description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a train_vae.py run")
    parser.add_argument("--in", dest="inp", required=True, metavar="FILE", help=".npz with x[, y]")
    parser.add_argument("--out", required=True, help="output .npz of mean, log_var[, y]")
    parser.add_argument("--map", help="also draw the codes in 2-D, coloured by class (PNG)")
    args = parser.parse_args(argv)
    cli.check_npz_output(args.out)
    if args.map and not args.map.endswith(".png"):
        raise AugmentError(f"--map writes a PNG: end it with .png, got {args.map}")
    with files.claim(args.out):
        config = runs.read_vae_config(args.run_dir, "encode")
        arrays = data.read_npz(args.inp, ("x",), ("y",), hint="save with np.savez(path, x=images[, y=labels])")
        x, y = data.check_arrays(arrays["x"], arrays.get("y", np.zeros(len(arrays["x"]), np.int64)), args.inp)
        y = y if "y" in arrays else None
        runs.check_image_shape(config, x, args.inp)
        classes = config.get("num_classes")
        if classes and y is None:
            raise DataError(f"{args.inp}: {args.run_dir} is conditional and its encoder reads labels: add y")
        if classes and (y.min() < 0 or y.max() >= classes):
            raise DataError(f"{args.inp}: labels must be in 0..{classes - 1}")
        names = ["encoder.keras", "decoder.keras"] if args.map else ["encoder.keras"]
        models = runs.load_exported(args.run_dir, names)
        mean, log_var = encode(models["encoder.keras"], x / 255.0, y if classes else None)
        files.write_npz(args.out, mean=mean, log_var=log_var, **({} if y is None else {"y": y}))
        if args.map:
            draw_map(args.map, mean, y, models.get("decoder.keras"), 0 if classes else None)
    print(f"encoded {len(x)} images into {mean.shape[1]}-dimensional codes: {os.fspath(args.out)}")
    return 0


if __name__ == "__main__":
    cli.run(main)
