"""Draw samples from a trained run into an `.npz` (x uint8 0..255, y int64 for conditional runs), or a sharded folder.

    python -m augment_tf.generate RUN_DIR --n 10000 --out samples.npz [--grid samples.png] [--labels 3,5,8]
    python -m augment_tf.generate RUN_DIR --n 10000000 --out samples/ --format shards   # any number, flat memory

Samples are drawn in chunks with a progress bar on stderr; a second command given the same --out refuses while the
first runs (`files.claim`). Shards are written as the chunks come (augment_tf.shards), the classes cycling rather than
sorted (every shard holds each class); a killed write is finished by running the same command again.
"""

import argparse
import os

import keras
import numpy as np

from augment_tf import cli, data, files, images, progress, runs, shards
from augment_tf.errors import AugmentError

CHUNK_BATCHES = 10  # sampler batches drawn at a time: 10k MNIST samples are 31 MB of float outputs


def balanced_labels(n, classes):
    """`n` labels cycling evenly over `classes`, sorted (the first n % k classes get one more)."""
    return np.sort(np.resize(np.asarray(classes, np.int64), n))


def cycling_labels(classes):
    """labels(start, size): sample i gets classes[i % k], so that any stretch of samples holds every class."""
    classes = np.asarray(classes, np.int64)
    return lambda start, size: classes[(start + np.arange(size)) % len(classes)]


def sample(sampler, config, labels=None, n=None, seed=0, batch_size=1000, temperature=1.0, verbose=False):
    """uint8 images (N, H, W, C) from a run's sampler; a conditional run needs `labels`, an unconditional one `n`.
    `temperature` scales the sampler's standard-normal noise: below 1, typical images at the cost of variety."""
    n = len(labels) if labels is not None else n
    labels_of = None if labels is None else (lambda start, size: labels[start:start + size])
    chunks = sample_chunks(sampler, config, n, labels_of, seed, batch_size, temperature, verbose=verbose)
    return np.concatenate([x for x, _ in chunks])


def sample_chunks(sampler, config, n, labels_of=None, seed=0, batch_size=1000, temperature=1.0, skip=0,
                  verbose=False):
    """(uint8 images, labels or None) chunks of the `n` samples `sample` draws, from sample `skip` on; a conditional
    run needs `labels_of(start, size)`, the labels of samples start..start+size-1.

    Chunks of CHUNK_BATCHES batches, so that only one chunk's noise and float outputs are in memory at a time; the
    noise stream is the one a single draw would give (skipped samples' noise is drawn, not decoded). `verbose` shows
    a bar of the samples on stderr."""
    rng, chunk = np.random.default_rng(seed), CHUNK_BATCHES * batch_size
    with progress.shown(verbose) as keras_verbose:
        bar = keras.utils.Progbar(n, verbose=keras_verbose, unit_name="sample")
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            z = temperature * rng.standard_normal((size, config["latent_dim"])).astype("float32")
            first = max(0, skip - start)
            if first < size:
                labels = None if labels_of is None else np.asarray(labels_of(start + first, size - first), np.int64)
                inputs = z[first:] if labels is None else [z[first:], labels.astype(np.int32)]
                yield images.from_model_range(sampler.predict(inputs, batch_size=batch_size, verbose=0),
                                              config["value_range"]), labels
            bar.add(size)


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
    parser.add_argument("--out", required=True, help="output .npz, or a folder with --format shards")
    parser.add_argument("--format", choices=("npz", "shards"), default="npz",
                        help="npz (default), or shards: a sharded folder written as samples come (docs/data.md)")
    parser.add_argument("--images-per-shard", type=int,
                        help=f"--format shards: images per file (default: about {shards.SHARD_BYTES // 2**20} MB)")
    parser.add_argument("--grid", help="also write a preview grid PNG")
    parser.add_argument("--labels", help="conditional runs: classes to draw, balanced (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.n < 1:
        raise AugmentError(f"--n must be a positive integer, got {args.n}")
    if args.format == "npz":
        cli.check_npz_output(args.out)
    elif args.out.endswith(".npz"):
        raise AugmentError(f"--format shards writes a folder, not {args.out}: drop the .npz from --out")
    if args.images_per_shard is not None and (args.format != "shards" or args.images_per_shard < 1):
        raise AugmentError("--images-per-shard takes a positive integer, with --format shards")
    with files.claim(args.out):
        sampler, config = runs.load_sampler(args.run_dir)
        num_classes = config.get("num_classes")
        if args.labels and not num_classes:
            raise AugmentError(f"--labels needs a conditional run; {args.run_dir} is unconditional")
        classes = (parse_classes(args.labels, num_classes) if args.labels else range(num_classes)) if num_classes else None
        if args.format == "shards":
            write_shards(sampler, config, args, classes)
            print(f"wrote {args.n} samples to {args.out}")
            return 0
        y = balanced_labels(args.n, classes) if num_classes else None
        x = sample(sampler, config, labels=y, n=args.n, seed=args.seed, verbose=True)
        arrays = {"x": for_file(x)} if y is None else {"x": for_file(x), "y": y}
        files.write_npz(args.out, **arrays)
        if args.grid:
            files.write_png(args.grid, preview(x, y))
    print(f"wrote {args.n} samples to {args.out}")
    return 0


def write_shards(sampler, config, args, classes):
    """The samples as a sharded folder, written as they are drawn; a rerun after a kill keeps the complete shards."""
    per_shard = args.images_per_shard or shards.default_images_per_shard(config["image_shape"])
    plan = {"command": "generate", "run": os.path.abspath(args.run_dir), "n": args.n, "classes": classes and list(
        classes), "seed": args.seed, "images_per_shard": per_shard}
    skip = shards.resume_from(args.out, plan, per_shard)
    if skip:
        progress.note(f"{args.out}: keeping the {skip} samples of a killed write, drawing the rest", True)
    labels_of = cycling_labels(classes) if classes is not None else None
    chunks = sample_chunks(sampler, config, args.n, labels_of, args.seed, skip=skip, verbose=True)
    labelled = ((x, np.full(len(x), data.UNLABELED) if y is None else y) for x, y in chunks)
    first = []

    def kept_first(chunks):  # the preview grid comes from the first chunk drawn
        for x, y in chunks:
            if not first:
                first.append((x, y))
            yield x, y

    shards.write_shards(kept_first(labelled), args.out, per_shard, source=args.run_dir, plan=plan)
    if args.grid and first:
        x, y = first[0]
        files.write_png(args.grid, preview(x, None if classes is None else y))


if __name__ == "__main__":
    cli.run(main)
