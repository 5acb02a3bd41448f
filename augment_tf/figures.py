"""Pictures of a training run, as arrays and files: its per-epoch grids as an animation, samples by class, and for a
VAE, reconstructions and repairs of real test images. What `augment-tf pictures` draws."""

import glob
import os
import re

import numpy as np

from augment_tf import data, files, images, masks, posterior, sampling
from augment_tf.errors import AugmentError, DataError

FRAME_MS = 400  # each epoch's grid in the animation; the last one stays LAST_FRAME_MS
LAST_FRAME_MS = 2000
GIF_BITS = 4  # gray levels of the animation, 2**GIF_BITS: 16 look the same as 256 and make the file 3x smaller
MISSING_GRAY = 128  # how a missing pixel shows in imputation.png


def progress_frames(run_dir):
    """[(epoch, uint8 grid image)] of RUN_DIR/samples/epoch_NNN.png, in epoch order."""
    from PIL import Image

    paths = glob.glob(os.path.join(run_dir, "samples", "epoch_*.png"))
    if not paths:
        raise AugmentError(f"{run_dir}: no samples/epoch_NNN.png yet; let training finish an epoch")
    epochs = sorted((int(re.search(r"epoch_(\d+)\.png$", p).group(1)), p) for p in paths)
    frames = []
    for epoch, path in epochs:
        try:
            with Image.open(path) as image:
                frames.append((epoch, np.asarray(image.convert("L"))))
        except (OSError, ValueError, SyntaxError):  # PIL's UnidentifiedImageError is an OSError
            raise DataError(f"{path}: not a readable PNG picture (damaged): delete it, and the animation goes without "
                            "that epoch") from None
    return frames


def write_gif(path, frames, total_epochs=None, scale=2):
    """An animated GIF of (epoch, grid) frames, each captioned "epoch N of M", written atomically."""
    from PIL import Image, ImageDraw, ImageOps

    pictures = []
    for epoch, grid in frames:
        picture = Image.fromarray(upscale(grid[..., None], scale)[..., 0], "L")
        captioned = Image.new("L", (picture.width, picture.height + 16 * scale), 255)
        captioned.paste(picture, (0, 16 * scale))
        caption = f"epoch {epoch}" + (f" of {total_epochs}" if total_epochs else "")
        ImageDraw.Draw(captioned).text((4, 2), caption, fill=0, font_size=11 * scale)
        pictures.append(ImageOps.posterize(captioned, GIF_BITS))
    durations = [FRAME_MS] * (len(pictures) - 1) + [LAST_FRAME_MS]
    with files.atomic_path(path) as tmp:
        pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=durations, loop=0)


def class_samples(sampler, config, per_class=10, seed=0, temperature=1.0):
    """uint8 grid: `per_class` samples a row, one row per class (conditional run), else 10 rows of samples."""
    if config.get("num_classes"):
        labels = sampling.balanced_labels(per_class * config["num_classes"], range(config["num_classes"]))
        return sampling.preview(sampling.sample(sampler, config, labels=labels, seed=seed, temperature=temperature),
                                labels, per_class)
    return sampling.preview(sampling.sample(sampler, config, n=per_class * 10, seed=seed, temperature=temperature), None,
                            per_class)


def test_images(config, data_dir=None, per_class=1):
    """(uint8 images, labels): the first `per_class` labelled images of each class in the test split of the run's
    data (the first 10 images where the run is unconditional)."""
    dataset, data_dir = config.get("dataset") or "mnist", data_dir or config.get("data_dir")
    x, y = data.load_arrays(dataset, "test", data_dir)
    (x, y), _ = data.split_labeled(x, y)
    if list(x.shape[1:]) != list(config["image_shape"]):
        raise DataError(f"{data_dir or dataset}: test images are {x.shape[1:]} but the run makes "
                        f"{tuple(config['image_shape'])}: pass the run's data with --data-dir")
    if not config.get("num_classes"):
        return x[:10], y[:10]
    rows = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(config["num_classes"])])
    return x[rows], y[rows]


def reconstructions(encoder, decoder, x, labels=None):
    """uint8 reconstructions of uint8 images `x`: the decoder's image for each posterior mean."""
    inputs = lambda first: first if labels is None else [first, np.asarray(labels, np.int32)]
    mean = encoder.predict(inputs(images.to_unit_range(x)), verbose=0)[0]
    return images.from_model_range(decoder.predict(inputs(mean), verbose=0), (0.0, 1.0))


def imputation_rows(encoder, decoder, x, labels=None, seed=0):
    """uint8 (masked, repaired, original) images: `x` with the bottom half missing (shown gray), repaired by
    `posterior.impute`, and `x` itself."""
    observed = masks.half_mask(x.shape, "bottom").astype(bool)
    repaired = posterior.impute(encoder, decoder, images.to_unit_range(x), observed, labels, seed=seed)
    repaired = np.where(observed, x, images.from_model_range(repaired, (0.0, 1.0)))
    return np.where(observed, x, np.uint8(MISSING_GRAY)), repaired, x


def upscale(grid, scale):
    """Each pixel of a uint8 (H, W, C) image as a `scale` x `scale` block."""
    return np.kron(grid, np.ones((scale, scale, 1), np.uint8))
