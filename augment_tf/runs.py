"""The run directory: where a training run keeps its config, checkpoint, samples, logs and exported models.

    RUN_DIR/config.json        settings of the run (what `generate` needs to sample from it)
    RUN_DIR/state.json         epochs completed and seconds trained, written after each checkpoint
    RUN_DIR/quality.json       the held-out scores of each epoch and the best (augment_tf.quality)
    RUN_DIR/best_weights.npz   the weights of the best-scoring epoch, which the exported models come from
    RUN_DIR/checkpoint.keras   full model with optimizer state, the point `--resume` continues from
    RUN_DIR/samples/epoch_NNN.png, RUN_DIR/logs/ (TensorBoard); VAEs also samples/recon_epoch_NNN.png
    RUN_DIR/<sampler>.keras    standalone generator / decoder, written when training ends (VAEs: encoder.keras too)
"""

import json
import numbers
import os
import zipfile

import augment_tf
from augment_tf import files
from augment_tf.errors import AugmentError

CONFIG = "config.json"
STATE = "state.json"
CHECKPOINT = "checkpoint.keras"
QUALITY = "quality.json"
BEST_WEIGHTS = "best_weights.npz"
DAMAGED = "the run directory is damaged: restore the file, or train the run again"


def _count(value, low=1):
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# config.json fields a command reads, each with its check and what it must be: a field damaged by hand or by a crash
# is refused in one line naming it when the run is read, not met as a KeyError or a shape error later.
FIELDS = {
    "model": (lambda v: isinstance(v, str) and v.endswith(("GAN", "VAE")),  # a subclass keeps its family's suffix
              "the model's class name, such as ConditionalGAN or VAE"),
    "sampler": (lambda v: isinstance(v, str) and v.endswith(".keras") and os.path.basename(v) == v,
                "the name of a .keras file in the run directory"),
    "image_shape": (lambda v: isinstance(v, list) and len(v) == 3 and all(_count(d) for d in v),
                    "[height, width, channels], three positive integers"),
    "num_classes": (lambda v: v is None or _count(v), "a positive integer, or null for an unconditional run"),
    "value_range": (lambda v: isinstance(v, list) and len(v) == 2 and all(map(_number, v)) and v[0] < v[1],
                    "[low, high], two numbers"),
    "latent_dim": (_count, "a positive integer"),
    "width": (_count, "a positive integer"),
    "batch_size": (_count, "a positive integer"),
    "seed": (lambda v: _count(v, 0), "an integer 0 or above"),
    "conditional": (lambda v: isinstance(v, bool), "true or false"),
    "epochs_requested": (lambda v: v is None or _count(v), "a positive integer or null"),
    "steps_requested": (lambda v: v is None or _count(v), "a positive integer or null"),
    "dataset": (lambda v: isinstance(v, str), "a dataset name"),
    "data_dir": (lambda v: v is None or isinstance(v, str), "a path or null"),
}
REQUIRED = ("model", "sampler", "image_shape", "num_classes", "value_range", "latent_dim")


def path(run_dir, name):
    return os.path.join(run_dir, name)


def read_json(run_dir, name):
    """Reads RUN_DIR/name; a missing or unreadable file is a clear AugmentError."""
    file = path(run_dir, name)
    if os.path.isfile(run_dir):
        raise AugmentError(f"{run_dir} is a file, not a run directory; pass the --out folder of a training run")
    if not os.path.isdir(run_dir):
        raise AugmentError(f"{run_dir}: no such run directory; pass the --out folder of a training run")
    try:
        with open(file) as f:
            return json.load(f)
    except FileNotFoundError:
        raise AugmentError(f"{file}: missing; {run_dir} is not a training run directory") from None
    except ValueError as e:  # not JSON, or not text
        raise AugmentError(f"{file}: not readable JSON ({str(e)[:80]}); {DAMAGED}") from None


def read_config(run_dir):
    """RUN_DIR/config.json, its fields checked (`FIELDS`): a damaged one is an AugmentError naming it."""
    config, file = read_json(run_dir, CONFIG), path(run_dir, CONFIG)
    if not isinstance(config, dict):
        raise AugmentError(f"{file}: holds a {type(config).__name__}, not the settings of a run; {DAMAGED}")
    for key in REQUIRED:
        if key not in config:
            raise AugmentError(f"{file}: no field {key!r}; {DAMAGED}")
    for key, (fits, wanted) in FIELDS.items():
        if key in config and not fits(config[key]):
            raise AugmentError(f"{file}: field {key!r} is {json.dumps(config[key])[:40]}, and must be {wanted}; "
                               f"{DAMAGED}")
    return config


def read_vae_config(run_dir, command):
    """The config of a VAE run (one that exports encoder.keras and decoder.keras); any other run is refused for
    `command` in one line."""
    config = read_config(run_dir)
    if not config["model"].endswith("VAE"):
        raise AugmentError(f"{command} needs a VAE run; {run_dir} is a {config['model']} run: train one "
                           "with train_vae.py")
    return config


def write_config(run_dir, config):
    files.write_json(path(run_dir, CONFIG), config)


def completed_epochs(run_dir):
    """Epochs saved in the checkpoint, or 0 when the run has none yet."""
    if not os.path.exists(path(run_dir, CHECKPOINT)) or not os.path.exists(path(run_dir, STATE)):
        return 0
    state = read_json(run_dir, STATE)
    if not isinstance(state, dict) or not _count(state.get("epoch"), 0):
        raise AugmentError(f"{path(run_dir, STATE)}: field 'epoch' must be the epochs done, an integer 0 or above; "
                           f"{DAMAGED}")
    return state["epoch"]


def trained_seconds(run_dir):
    """Seconds the run has trained for, over all its sessions (state.json; 0 for a run before budgets were kept)."""
    if not completed_epochs(run_dir):
        return 0.0
    seconds = read_json(run_dir, STATE).get("seconds", 0.0)
    if not _number(seconds) or seconds < 0:
        raise AugmentError(f"{path(run_dir, STATE)}: field 'seconds' must be the seconds trained, a number 0 or above; "
                           f"{DAMAGED}")
    return float(seconds)


def load_model(file):
    """`keras.saving.load_model` with an actionable error for damaged or incompatible files.

    TensorFlow loads here, on the first model a command needs: what comes before (its checks) answers without it."""
    augment_tf.load_tensorflow()
    import keras

    from augment_tf import models  # noqa: F401  (registers the custom classes)

    if not os.path.exists(file):
        raise AugmentError(f"{file}: no such model file")
    if not zipfile.is_zipfile(file):
        raise AugmentError(f"{file}: not a .keras archive (cut short, or another kind of file); {DAMAGED}")
    try:
        return keras.saving.load_model(file)
    except Exception as e:  # Keras raises many types for bad archives; all mean the same to the user.
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AugmentError(
            f"{file}: cannot load this model ({first_line[:200]}); it is damaged or from an incompatible "
            "version: retrain the run"
        ) from None


def load_exported(run_dir, names, config=None):
    """{name: standalone model} for the models a run exports (e.g. "decoder.keras"), each from its file
    if training finished, else from the last checkpoint (loaded once); a file that does not fit the run's config
    (another run's, another model's) is refused in one line. `config`: the run's, where the caller has read it."""
    config = config or read_config(run_dir)
    models, checkpoint = {}, None
    for name in names:
        if os.path.exists(path(run_dir, name)):
            models[name] = load_model(path(run_dir, name))
            if not _fits(models[name], name, config):
                raise AugmentError(f"{path(run_dir, name)}: this model does not read or make the run's "
                                   f"{tuple(config['image_shape'])} images (a file of another run?); {DAMAGED}")
            continue
        if not os.path.exists(path(run_dir, CHECKPOINT)):
            raise AugmentError(f"{run_dir}: no {name} nor checkpoint yet; let training finish an epoch")
        checkpoint = checkpoint or load_checkpoint(run_dir, config).export_models()
        if name not in checkpoint:
            raise AugmentError(f"{run_dir}: this run has no {name} (it exports {', '.join(checkpoint)})")
        models[name] = checkpoint[name]
    return models


def load_checkpoint(run_dir, config):
    """The full model of RUN_DIR/checkpoint.keras, when it is the model and image shape `config` records."""
    file = path(run_dir, CHECKPOINT)
    model = load_model(file)
    made = (type(model).__name__, list(getattr(model, "image_shape", ()) or ()))
    if made != (config["model"], config["image_shape"]):
        raise AugmentError(f"{file}: holds a {made[0]} of {made[1] or 'unknown'} images where config.json says "
                           f"{config['model']} of {config['image_shape']}; {DAMAGED}")
    return model


def _fits(model, name, config):
    """Whether a standalone model reads (an encoder) or makes (a sampler, decoder or generator) the run's images, with
    a label input beside where the run is conditional."""
    try:
        inputs = [tuple(tensor.shape[1:]) for tensor in model.inputs]
        outputs = [tuple(tensor.shape[1:]) for tensor in model.outputs]
    except (AttributeError, TypeError, ValueError):  # not a functional model: nothing a run exports
        return False
    image = tuple(config["image_shape"])
    if len(inputs) != 1 + bool(config["num_classes"]):
        return False
    return inputs[0] == image if name == "encoder.keras" else outputs == [image]


def load_sampler(run_dir, config=None):
    """(standalone sampler model, run config): the exported generator/decoder, else the last checkpoint's."""
    config = config or read_config(run_dir)
    return load_exported(run_dir, [config["sampler"]], config)[config["sampler"]], config
