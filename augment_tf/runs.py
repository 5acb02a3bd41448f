"""The run directory: where a training run keeps its config, checkpoint, samples, logs and exported models.

    RUN_DIR/config.json        settings of the run (what `generate` needs to sample from it)
    RUN_DIR/state.json         epochs completed, written after each checkpoint
    RUN_DIR/checkpoint.keras   full model with optimizer state, the point `--resume` continues from
    RUN_DIR/samples/epoch_NNN.png, RUN_DIR/logs/ (TensorBoard); VAEs also samples/recon_epoch_NNN.png
    RUN_DIR/<sampler>.keras    standalone generator / decoder, written when training ends (VAEs: encoder.keras too)
"""

import json
import os

import augment_tf
from augment_tf import files
from augment_tf.errors import AugmentError

CONFIG = "config.json"
STATE = "state.json"
CHECKPOINT = "checkpoint.keras"


def path(run_dir, name):
    return os.path.join(run_dir, name)


def read_json(run_dir, name):
    """Reads RUN_DIR/name; a missing or unreadable file is a clear AugmentError."""
    file = path(run_dir, name)
    if not os.path.isdir(run_dir):
        raise AugmentError(f"{run_dir}: no such run directory; pass the --out folder of a training run")
    try:
        with open(file) as f:
            return json.load(f)
    except FileNotFoundError:
        raise AugmentError(f"{file}: missing; {run_dir} is not a training run directory") from None
    except (OSError, ValueError) as e:
        raise AugmentError(f"{file}: unreadable ({e}); the run directory is damaged") from None


def read_vae_config(run_dir, command):
    """The config of a VAE run (one that exports encoder.keras and decoder.keras); any other run is refused for
    `command` in one line."""
    config = read_json(run_dir, CONFIG)
    if not config.get("model", "").endswith("VAE"):
        raise AugmentError(f"{command} needs a VAE run; {run_dir} is a {config.get('model', 'GAN')} run: train one "
                           "with train_vae.py")
    return config


def write_config(run_dir, config):
    files.write_json(path(run_dir, CONFIG), config)


def completed_epochs(run_dir):
    """Epochs saved in the checkpoint, or 0 when the run has none yet."""
    if not os.path.exists(path(run_dir, CHECKPOINT)) or not os.path.exists(path(run_dir, STATE)):
        return 0
    return int(read_json(run_dir, STATE)["epoch"])


def load_model(file):
    """`keras.saving.load_model` with an actionable error for damaged or incompatible files.

    TensorFlow loads here, on the first model a command needs: what comes before (its checks) answers without it."""
    augment_tf.load_tensorflow()
    import keras

    from augment_tf import models  # noqa: F401  (registers the custom classes)

    if not os.path.exists(file):
        raise AugmentError(f"{file}: no such model file")
    try:
        return keras.saving.load_model(file)
    except Exception as e:  # Keras raises many types for bad archives; all mean the same to the user.
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AugmentError(
            f"{file}: cannot load this model ({first_line[:200]}); it is damaged or from an incompatible "
            "version: retrain the run"
        ) from None


def load_exported(run_dir, names):
    """{name: standalone model} for the models a run exports (e.g. "decoder.keras"), each from its file
    if training finished, else from the last checkpoint (loaded once)."""
    models, checkpoint = {}, None
    for name in names:
        if os.path.exists(path(run_dir, name)):
            models[name] = load_model(path(run_dir, name))
            continue
        if not os.path.exists(path(run_dir, CHECKPOINT)):
            raise AugmentError(f"{run_dir}: no {name} nor checkpoint yet; let training finish an epoch")
        checkpoint = checkpoint or load_model(path(run_dir, CHECKPOINT)).export_models()
        if name not in checkpoint:
            raise AugmentError(f"{run_dir}: this run has no {name} (it exports {', '.join(checkpoint)})")
        models[name] = checkpoint[name]
    return models


def load_sampler(run_dir):
    """(standalone sampler model, run config): the exported generator/decoder, else the last checkpoint's."""
    config = read_json(run_dir, CONFIG)
    return load_exported(run_dir, [config["sampler"]])[config["sampler"]], config
