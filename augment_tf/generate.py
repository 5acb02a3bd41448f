"""Draw samples from a trained run into an `.npz` (x uint8 0..255, y int64 for conditional runs).

    python -m augment_tf.generate RUN_DIR --n 10000 --out samples.npz [--grid samples.png] [--labels 3,5,8]

Samples are drawn in chunks with a progress bar on stderr; a second command given the same --out refuses while the
first runs (`files.claim`).
"""

import argparse

import keras
import numpy as np

from augment_tf import cli, files, images, progress, runs
from augment_tf.errors import AugmentError

CHUNK_BATCHES = 10  # sampler batches drawn at a time: 10k MNIST samples are 31 MB of float outputs


def balanced_labels(n, classes):
    """`n` labels cycling evenly over `classes`, sorted (the first n % k classes get one more)."""
    return np.sort(np.resize(np.asarray(classes, np.int64), n))


def sample(sampler, config, labels=None, n=None, seed=0, batch_size=1000, temperature=1.0, verbose=False):
    """uint8 images (N, H, W, C) from a run's sampler; a conditional run needs `labels`, an unconditional one `n`.
    `temperature` scales the sampler's standard-normal noise: below 1, typical images at the cost of variety.

    Drawn in chunks of CHUNK_BATCHES batches, so that only one chunk's noise and float outputs are in memory at a time;
    the noise stream is the one a single draw would give. `verbose` shows a bar of the samples on stderr."""
    n = len(labels) if labels is not None else n
    rng, chunk = np.random.default_rng(seed), CHUNK_BATCHES * batch_size
    parts = []
    with progress.shown(verbose) as keras_verbose:
        bar = keras.utils.Progbar(n, verbose=keras_verbose, unit_name="sample")
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            z = temperature * rng.standard_normal((size, config["latent_dim"])).astype("float32")
            inputs = z if labels is None else [z, np.asarray(labels[start:start + size], np.int32)]
            parts.append(images.from_model_range(sampler.predict(inputs, batch_size=batch_size, verbose=0),
                                                 config["value_range"]))
            bar.add(size)
    return np.concatenate(parts)


def parse_classes(text, num_classes, flag="--labels"):
    """'3,5,8' -> [3, 5, 8], checked against the run's classes; `flag` names the option in errors."""
    try:
        classes = sorted({int(c) for c in text.split(",") if c.strip()})
    except ValueError:
        raise AugmentError(f"{flag} takes class indices like 3,5,8, got {text!r}") from None
    bad = [c for c in classes if not 0 <= c < num_classes]
    if not classes or bad:
        raise AugmentError(f"{flag}: classes must be in 0..{num_classes - 1}, got {text!r}")
    return classes


def preview(x, y, per_row=10):
    """A grid of up to 10 samples per class (one row each), or the first 100 samples."""
    if y is None:
        return images.grid(x[: per_row * per_row], rows=max(1, -(-min(len(x), 100) // per_row)))
    rows = [x[y == c][:per_row] for c in np.unique(y)]
    padded = [np.concatenate([r, np.full((per_row - len(r), *x.shape[1:]), 255, np.uint8)]) for r in rows]
    return images.grid(np.concatenate(padded), rows=len(rows))


def for_file(x):
    """Grayscale images are stored as N×H×W (the MNIST layout); colour ones as N×H×W×C."""
    return x[..., 0] if x.shape[-1] == 1 else x


def main(argv=None):
    parser = argparse.ArgumentParser(prog=cli.prog("augment_tf.generate"), description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("--n", type=int, required=True, help="number of samples")
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--grid", help="also write a preview grid PNG")
    parser.add_argument("--labels", help="conditional runs: classes to draw, balanced (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.n < 1:
        raise AugmentError(f"--n must be a positive integer, got {args.n}")
    cli.check_npz_output(args.out)
    with files.claim(args.out):
        sampler, config = runs.load_sampler(args.run_dir)
        num_classes = config.get("num_classes")
        if args.labels and not num_classes:
            raise AugmentError(f"--labels needs a conditional run; {args.run_dir} is unconditional")
        y = None
        if num_classes:
            classes = parse_classes(args.labels, num_classes) if args.labels else range(num_classes)
            y = balanced_labels(args.n, classes)
        x = sample(sampler, config, labels=y, n=args.n, seed=args.seed, verbose=True)
        arrays = {"x": for_file(x)} if y is None else {"x": for_file(x), "y": y}
        files.write_npz(args.out, **arrays)
        if args.grid:
            files.write_png(args.grid, preview(x, y))
    print(f"wrote {args.n} samples to {args.out}")
    return 0


if __name__ == "__main__":
    cli.run(main)
