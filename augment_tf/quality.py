"""Sample quality while training, on the user's own data: a held-out slice of the training images, the reference
classifier trained on the rest, and `QualityMonitor`, the callback that scores the model's samples against the slice
after every epoch (FID, precision and recall on the classifier's features, label fidelity), keeps the best snapshot
and stops when the score has not improved for a while; then `choose_temperature`, the temperature the slice favours
(reported by a run, not used: benchmarks/results/training_budget/HISTORY.md).

FID on a slice of 2,000 images reads higher than on 10k (the estimate is biased by the sample count): compare a run's
epochs with each other, and runs with `evaluate`.
"""

import time

import keras
import numpy as np

from augment_tf import files, metrics, reference, sampling

CLASSIFIER_STEPS = None  # the reference classifier's steps (None: reference.STEPS, evaluate's recipe)
TEMPERATURES = (1.0, 1.1, 1.2, 1.3, 1.4)  # a run's own temperature is one of these (the family rule's grid, to 1.4)
MIN_FIDELITY = 0.97  # the family rule's: a temperature whose samples are read as their label less often is out
CAS_MARGIN = 0.002  # the family rule's: a higher temperature must beat a lower one's CAS by more than 0.2 points
CAS_STEPS = 200  # steps of each temperature's CAS classifier: at 500 the choice took 3 minutes after a 10-minute run


class HeldOut:
    """Held-out uint8 images (and labels) with the classifier that scores samples against them."""

    def __init__(self, x, y, classifier):
        self.x, self.y, self.classifier = x, (None if y is None else np.asarray(y, np.int64)), classifier
        self.heads = reference.feature_heads(classifier)
        self.features = reference.features_and_labels(classifier, x, heads=self.heads)[0]

    def score(self, x, labels=None):
        """{fid, precision, recall} of uint8 samples `x` against the held-out images; `label_fidelity` too for
        samples drawn for `labels`: the share the classifier reads as their label."""
        features, predicted = reference.features_and_labels(self.classifier, x, heads=self.heads)
        precision, recall = metrics.precision_recall(self.features, features)
        scores = {"fid": metrics.frechet_distance(self.features, features), "precision": precision, "recall": recall}
        if labels is not None:
            scores["label_fidelity"] = float(np.mean(predicted == labels))
        return scores

    def draw(self, model, temperature, seed):
        """(uint8 samples, their labels or None) of `model`'s sampler, one per held-out image: a conditional model
        draws each held-out image's class."""
        labels = self.y if model.num_classes else None
        config = {"latent_dim": model.latent_dim, "value_range": model.value_range}
        x = sampling.sample(model.sampler, config, labels=labels, n=len(self.x), seed=seed, temperature=temperature)
        return x, labels


class QualityMonitor(keras.callbacks.Callback):
    """Scores a generative model's samples against held-out images after every `every` epochs and keeps the best.

    The scores join the epoch's logs as val_fid, val_precision, val_recall (and val_label_fidelity for conditional
    models), so the progress line, TensorBoard and `keras.callbacks.EarlyStopping(monitor="val_fid")` see them. The
    best snapshot is the lowest FID: with `restore_best` the model ends training with its weights (as EarlyStopping's
    `restore_best_weights`); `patience` scorings without a better FID stop training. `held_out` is a `HeldOut`;
    `prepare(model)` readies the sampler before each scoring (a VAE's fitted prior: `FitLatentPrior.prepare_sampler`).
    A run directory's monitor also keeps the best weights in `snapshot` (an .npz) and its records in `record` (a JSON
    file), so a resumed run goes on from them (`history`: the records of epochs already done).
    """

    def __init__(self, held_out, *, every=1, temperature=1.0, seed=0, patience=None, restore_best=False,
                 prepare=None, snapshot=None, record=None, history=()):
        super().__init__()
        if every < 1 or (patience is not None and patience < 1):
            raise ValueError("every and patience must be positive integers")
        self.held_out, self.every, self.temperature, self.seed = held_out, every, temperature, seed
        self.patience, self.restore_best, self.prepare = patience, restore_best, prepare
        self.snapshot, self.record = snapshot, record
        self.records = list(history)
        self.best = min(self.records, key=lambda r: r["fid"], default=None)
        self.best_weights, self.stopped_at = None, None

    def on_train_begin(self, logs=None):
        self.current_is_best, self.trained = False, 0.0  # seconds trained since the last scoring

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        self.trained += time.perf_counter() - self.epoch_started
        self.current_is_best = False
        if (epoch + 1) % self.every or not all(np.isfinite(float(v)) for v in logs.values()):
            return
        started = time.perf_counter()
        if self.prepare:
            self.prepare(self.model)
        scores = self.held_out.score(*self.held_out.draw(self.model, self.temperature, self.seed))
        logs.update({f"val_{name}": value for name, value in scores.items()})
        record, self.trained = {"epoch": epoch + 1, **scores, "train_seconds": round(self.trained, 2)}, 0.0
        if self.best is None or scores["fid"] < self.best["fid"]:
            self.best, self.current_is_best = record, True
            self._keep_best()
        record["score_seconds"] = round(time.perf_counter() - started, 2)
        self.records.append(record)
        self._write_record()
        waited = sum(r["epoch"] > self.best["epoch"] for r in self.records)
        if self.patience and waited >= self.patience:
            self.model.stop_training, self.stopped_at = True, epoch + 1

    def _keep_best(self):
        weights = self.model.get_weights()
        if self.snapshot:
            files.write_npz(self.snapshot, **{f"w{i:04d}": w for i, w in enumerate(weights)})
        else:
            self.best_weights = weights

    def _write_record(self):
        if self.record:
            files.write_json(self.record, summary(self.records, len(self.held_out.x), self.temperature))

    def on_train_end(self, logs=None):
        if not self.restore_best or self.best is None or self.current_is_best:
            return
        if self.snapshot:
            with np.load(self.snapshot) as saved:
                self.best_weights = [saved[name] for name in sorted(saved.files)]
        if self.best_weights is not None:  # None: the best is an earlier session's, kept in no snapshot
            self.model.set_weights(self.best_weights)


def summary(records, held_out, temperature):
    """What quality.json holds: the held-out slice's size, each scoring, the best one and what the scoring cost."""
    trained = sum(r["train_seconds"] for r in records)
    scored = sum(r["score_seconds"] for r in records)
    return {"held_out": held_out, "temperature": temperature, "records": records,
            "best": min(records, key=lambda r: r["fid"], default=None),
            "scoring_share": round(scored / trained, 4) if trained else None}


def choose_temperature(model, held_out, seed=0, temperatures=None, steps=None):
    """(temperature, rows): the temperature the family rule picks on the held-out slice, and each one's row.

    The rule is the one that chose the family defaults (benchmarks/results/temperature/HISTORY.md): among the
    temperatures whose samples are read as their label at least MIN_FIDELITY of the time, the highest CAS (a
    classifier trained on the samples, scored on the held-out images), a higher one winning only by more than
    CAS_MARGIN. The same noise scaled by each temperature, and one classifier seed, keep the comparison paired.
    `temperatures` default to TEMPERATURES, `steps` to CAS_STEPS.
    Conditional models only (CAS needs labels): an unconditional one gets None."""
    if not model.num_classes:
        return None, []
    rows = []
    for temperature in temperatures or TEMPERATURES:
        x, labels = held_out.draw(model, temperature, seed)
        classifier = reference.train_classifier(x, labels, model.num_classes, steps=steps or CAS_STEPS, seed=seed)
        # called, not `predict`: a predict function traced per classifier makes TensorFlow warn of retracing
        predicted = np.argmax(keras.ops.convert_to_numpy(classifier(held_out.x.astype("float32"))), axis=-1)
        cas = float(np.mean(predicted == held_out.y))
        rows.append({"temperature": temperature, **held_out.score(x, labels), "cas": cas})
    return pick_temperature(rows), rows


def pick_temperature(rows):
    """The family rule on rows of {temperature, label_fidelity, cas} in rising temperature: the highest CAS among the
    faithful ones, a higher temperature winning only by more than CAS_MARGIN; the lowest where none is faithful."""
    chosen = None
    for row in rows:
        if row["label_fidelity"] >= MIN_FIDELITY and (chosen is None or row["cas"] > chosen["cas"] + CAS_MARGIN):
            chosen = row
    return (chosen or rows[0])["temperature"]
