"""A training run's quality curve (`--quality`): the slice of its data it holds out, the `quality.QualityMonitor`
that scores every epoch against it, and what the run records of it at the end. `training` calls these; a library
user passes a `QualityMonitor` to `fit` directly."""

import os
import sys
import time

from augment_tf import data, files, held_out, quality, reference, runs, sampling, sources
from augment_tf.errors import AugmentError


def slice_size(args, source, strategy):
    """(images a new run holds out: `held_out.size`, a line saying so): none with --no-quality or where it cannot
    be, with why (streamed data, several replicas, too few labelled images)."""
    if not args.quality:
        return 0, None
    labelled = source.images - source.unlabeled
    held = held_out.size(labelled)
    why = ("it is streamed" if source.streamed else
           f"it runs on {strategy.num_replicas_in_sync} replicas" if strategy.num_replicas_in_sync > 1 else
           f"{labelled} labelled images are too few to hold out {held_out.MIN}" if not held else None)
    if why and args.patience:
        raise AugmentError(f"--patience stops on the held-out score, and this run has none ({why}): drop it")
    if why:
        return 0, f"quality curve: off, {source.name}: {why}; the run exports its last epoch"
    return held, (f"quality curve: {held} of the {labelled} labelled images held out (seed {args.seed}), never "
                  f"trained on; training on the other {source.images - held}")


def split(source, size, seed):
    """(the rest of an in-memory `source`, its held-out (x, y)): `size` labelled images drawn by `seed`
    (`held_out.split`); (source, None) for a size of 0."""
    if not size:
        return source, None
    rest, rows = held_out.split(source.y, size, seed)
    return sources.Arrays(source.x[rest], source.y[rest], source.name), (source.x[rows], source.y[rows])


def monitor(config, held, source, initial_epoch, extra_callbacks):
    """The run's `quality.QualityMonitor`: the held-out images against the reference classifier trained on the rest
    (cached), its records and best weights in the run directory, those of epochs after the checkpoint dropped.

    Put it before TensorBoard (which logs its scores) and the checkpoint, and before the extra callbacks: it restores
    the best weights at the end of training before a VAE's prior is fitted to them (`FitLatentPrior`)."""
    run_dir = config["run_dir"]
    x, y = data.split_labeled(source.x, source.y)[0]
    classifier = reference.cached_classifier(x, y, config["dataset"], steps=quality.CLASSIFIER_STEPS,
                                             num_classes=config["num_classes"] or data.num_classes(y),
                                             verbose=True)
    record, snapshot = runs.path(run_dir, runs.QUALITY), runs.path(run_dir, runs.BEST_WEIGHTS)
    history = []
    if initial_epoch and os.path.exists(record) and os.path.exists(snapshot):
        history = [r for r in runs.read_json(run_dir, runs.QUALITY).get("records", []) if r["epoch"] <= initial_epoch]
    prepare = [c.prepare_sampler for c in extra_callbacks if hasattr(c, "prepare_sampler")]
    return quality.QualityMonitor(
        quality.HeldOut(*held, classifier), temperature=sampling.default_temperature(config), seed=config["seed"],
        patience=config.get("patience"), restore_best=True, prepare=prepare[0] if prepare else None,
        snapshot=snapshot, record=record, history=history,
    )


def record(model, config, monitor):
    """Records the best epoch and the temperature the family rule picks on the held-out images
    (`quality.choose_temperature`, on the model as it is exported) in config.json and quality.json, with a line when
    it differs from the family default. Reported, not used: the commands draw at the family's (on validation the
    run's own choice scored the lower CAS; benchmarks/results/training_budget/HISTORY.md)."""
    started = time.perf_counter()
    temperature, rows = quality.choose_temperature(model, monitor.held_out, seed=config["seed"])
    family = monitor.temperature  # the family's: what the monitor scored at, and what the commands draw at
    config.update(best=monitor.best, stopped_early_at=monitor.stopped_at, held_out_temperature=temperature)
    runs.write_config(config["run_dir"], config)
    files.write_json(monitor.record, {**quality.summary(monitor.records, len(monitor.held_out.x), family),
                                      "temperatures": rows, "chosen_temperature": temperature,
                                      "temperature_seconds": round(time.perf_counter() - started, 1)})
    if temperature is not None and temperature != family:
        row = next(r for r in rows if r["temperature"] == temperature)
        print(f"the held-out images favour sampling temperature {temperature:g} (CAS {row['cas']:.2%}, label fidelity "
              f"{row['label_fidelity']:.2%}); the commands draw at the family's {family:g} unless --temperature "
              "says otherwise", file=sys.stderr)


def exported_epoch(config):
    """What the run's last line adds where it has a curve: which epoch the exported model is, and its held-out score."""
    best = config.get("best")
    if not best:
        return ""
    epochs = runs.completed_epochs(config["run_dir"])
    return f" (epoch {best['epoch']} of {epochs}, the best by held-out FID {best['fid']:.2f})"
