"""Writers of a labelled dataset (x, y, is_synthetic) as an .npz, an MNIST IDX folder or a TensorFlow Datasets
folder, each atomically, with a comparison grid and a JSON summary beside or inside it.

    npz   OUT.npz: x uint8 (N×H×W grayscale, N×H×W×C colour), y int64, is_synthetic bool; OUT_grid.png, OUT.json
    idx   OUT/train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz and train-is-synthetic-idx1-ubyte.gz
    tfds  OUT/ split "train", features image, label (ClassLabel), is_synthetic; OUT/grid.png, OUT/summary.json
(The sharded format, for any number of samples, is `shard_format.write_shards`'.)"""

import contextlib
import io
import os
import re
import shutil

import numpy as np

from augment_tf import data, files, images, shard_format
from augment_tf.errors import AugmentError

FORMATS = ("npz", "idx", "tfds", "shards")
IS_SYNTHETIC_IDX = "train-is-synthetic-idx1-ubyte.gz"
TFDS_NAME, TFDS_VERSION = "augmented", "1.0.0"
TFDS_DESCRIPTION = "Augmented datasets: the real training split plus labelled samples from a conditional GAN or VAE run."


def comparison_grid(x, y, is_synthetic, per_row=10):
    """uint8 grid: for each class with synthetic samples, a row of real ones then a row of synthetic ones."""
    rows = [x[(y == c) & (is_synthetic == s)][:per_row] for c in np.unique(y[is_synthetic]) for s in (False, True)]
    if not rows:
        return None
    blank = np.full((1, *x.shape[1:]), 255, np.uint8)
    padded = [np.concatenate([r, np.repeat(blank, per_row - len(r), axis=0)]) for r in rows]
    return images.grid(np.concatenate(padded), rows=len(rows))


def write_npz(path, x, y, is_synthetic, *, grid=None, summary=None):
    """PATH.npz (x, y, is_synthetic from `augmented_arrays`), written last, after PATH_grid.png and PATH.json."""
    base = os.path.splitext(os.fspath(path))[0]
    if grid is not None:
        files.write_png(f"{base}_grid.png", grid)
    if summary is not None:
        files.write_json(f"{base}.json", summary)
    files.write_npz(path, x=images.for_file(x), y=np.asarray(y, np.int64), is_synthetic=np.asarray(is_synthetic))


def write_idx(folder, x, y, is_synthetic, *, grid=None, summary=None):
    """A folder of the MNIST train IDX pair plus train-is-synthetic-idx1-ubyte.gz (uint8 0/1), atomically."""
    if x.shape[-1] != 1 or y.max(initial=0) > 255:
        raise AugmentError("IDX files hold grayscale images and labels below 256: use --format npz or tfds")
    images_file, labels_file = data.IDX_FILES["train"]
    with files.atomic_dir(folder) as tmp:
        data.write_idx(os.path.join(tmp, f"{images_file}.gz"), x[..., 0])
        data.write_idx(os.path.join(tmp, f"{labels_file}.gz"), np.asarray(y).astype(np.uint8))
        data.write_idx(os.path.join(tmp, IS_SYNTHETIC_IDX), np.asarray(is_synthetic).astype(np.uint8))
        _write_extras(tmp, grid, summary)


def write_tfds(folder, x, y, is_synthetic, *, num_classes=None, grid=None, summary=None):
    """A TensorFlow Datasets folder (split "train", tfrecord, order kept), atomically; see `tfds_name` for its name."""
    import tensorflow_datasets as tfds

    name, version = tfds_name(folder)
    features = tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=x.shape[1:]),
        "label": tfds.features.ClassLabel(num_classes=num_classes or data.num_classes(y)),
        "is_synthetic": tfds.features.Scalar(np.bool_),
    })
    examples = ((i, {"image": x[i], "label": y[i], "is_synthetic": is_synthetic[i]}) for i in range(len(x)))
    with files.atomic_dir(folder) as tmp:
        build = os.path.join(tmp, ".build")
        builder = _supervised_builder(tfds)(name=name, version=version, features=features, data_dir=build,
                                            split_datasets={"train": examples}, disable_shuffling=True)
        with contextlib.redirect_stdout(io.StringIO()):  # tfds prints the temporary path it prepared
            builder.download_and_prepare(file_format="tfrecord",  # no GCS lookup: works offline
                                         download_config=tfds.download.DownloadConfig(try_download_gcs=False))
        for entry in os.listdir(builder.data_dir):
            os.replace(os.path.join(builder.data_dir, entry), os.path.join(tmp, entry))
        shutil.rmtree(build)
        _write_extras(tmp, grid, summary)


def tfds_name(folder):
    """(name, version) of a TFDS folder: NAME and X.Y.Z from a DIR/NAME/X.Y.Z path, so that
    `tfds.load(NAME, data_dir=DIR)` finds it too; else ("augmented", "1.0.0")."""
    folder = os.path.abspath(folder)
    name, version = os.path.basename(os.path.dirname(folder)), os.path.basename(folder)
    if re.fullmatch(r"\d+\.\d+\.\d+", version) and re.fullmatch(r"[a-z][a-z0-9_]*", name):
        return name, version
    return TFDS_NAME, TFDS_VERSION


def _supervised_builder(tfds):
    """tfds' AdhocBuilder, with ("image", "label") as supervised keys so that `as_supervised=True` works."""

    class AugmentedBuilder(tfds.dataset_builders.AdhocBuilder, skip_registration=True):
        def _info(self):
            return tfds.core.DatasetInfo(builder=self, description=TFDS_DESCRIPTION, features=self._feature_spec,
                                         supervised_keys=("image", "label"), disable_shuffling=True)

    return AugmentedBuilder


def _write_extras(folder, grid, summary):
    if grid is not None:
        files.write_png(os.path.join(folder, "grid.png"), grid)
    if summary is not None:
        files.write_json(os.path.join(folder, "summary.json"), summary)


def output_format(out, fmt=None):
    """`fmt`, or the one OUT implies (.npz: npz, else an IDX folder), checked against OUT."""
    is_npz = out.endswith(".npz")
    fmt = fmt or ("npz" if is_npz else "idx")
    if is_npz != (fmt == "npz"):
        raise AugmentError(f"--format {fmt} writes " + ("an .npz file: end --out with .npz" if fmt == "npz" else
                                                         f"a folder, not {out}: drop the .npz from --out"))
    if fmt == "npz" and os.path.isdir(out):
        raise AugmentError(f"{out} is a folder: choose another --out")
    if fmt == "shards" and not os.path.isfile(os.path.join(out, shard_format.PLAN)):  # a plan: a rerun finishing it
        shard_format.check_new_folder(out)
    elif fmt not in ("npz", "shards"):
        files.check_replaceable_dir(out)
    return fmt


def write(out, fmt, x, y, is_synthetic, summary, num_classes):
    """The data in `fmt` ("npz", "idx" or "tfds"), with the comparison grid and `summary` beside or inside it."""
    write_as = {"npz": write_npz, "idx": write_idx, "tfds": write_tfds}[fmt]
    extra = {"num_classes": num_classes} if fmt == "tfds" else {}
    if fmt == "tfds":
        import tensorflow_datasets as tfds

        tfds.display_progress_bar(False)
    write_as(out, x, y, is_synthetic, grid=comparison_grid(x, y, is_synthetic), summary=summary, **extra)
