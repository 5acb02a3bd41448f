"""The benchmark scripts on tiny hand-made data. Their helpers, whose numbers benchmarks/README.md reports, checked
against counts worked out by hand: common.py (wall-clock snapshots, tables, validation/test splits),
augmentation_benefit.py (draws, hold-out, rebalancing, scores, summaries, margins, estimates, pooling), seeds.py,
gan_variants.py, few_labels.py and codes.py. Smoke runs of augmentation_benefit.py, small_data.py, temperature.py,
training_budget.py and distributed.py (marked slow). And each data benchmark's one-line error for a wrong --data-dir."""

import importlib
import json
import math
import os
import subprocess
import sys
import types

import keras
import numpy as np
import pytest

import augment_tf.benefit
from augment_tf.errors import AugmentError
from benchmarks import augmentation_benefit as benefit
from benchmarks import common
from tests.conftest import command_error

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def labelled_ids(counts):
    """(x, y): image i is the single pixel value i (N, 1, 1, 1 uint8), so every output image names its source."""
    y = np.repeat(np.arange(len(counts)), counts)
    return np.arange(len(y), dtype=np.uint8).reshape(-1, 1, 1, 1), y


def ids(x):
    return x.reshape(len(x)).astype(int)


# --- common.WallClockSnapshots -----------------------------------------------------------------------------------


class FakeClock:
    """time.perf_counter that only moves when told: snapshot marks are hit at known steps, never by chance."""

    def __init__(self):
        self.now = 1000.0

    def perf_counter(self):
        return self.now


class Ticker(keras.callbacks.Callback):
    """Before the snapshot callback at each batch end: 5 s pass, and the model's weights are recorded."""

    def __init__(self, clock):
        super().__init__()
        self.clock, self.weights = clock, []

    def on_train_batch_end(self, batch, logs=None):
        self.clock.now += 5.0
        self.weights.append(self.model.get_weights())


def fit_with(snapshots, monkeypatch):
    """(ticker, history) of a tiny model's `fit` (8 batches an epoch, 5 epochs) with `snapshots` on a fake clock."""
    clock = FakeClock()
    monkeypatch.setattr(common, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(0).standard_normal((64, 2)).astype("float32")
    ticker = Ticker(clock)
    history = model.fit(x, x.sum(1, keepdims=True), batch_size=8, epochs=5, shuffle=False, verbose=0,
                        callbacks=[ticker, snapshots])
    return ticker, history


def test_snapshots_at_wall_clock_marks_then_training_stops(monkeypatch):
    """Marks 7.5 s, 15 s, 30 s (given unsorted) at 5 s a batch: snapshots after steps 2, 3 and 6 with those steps,
    seconds, images/s and the weights of that very step; fit stops after step 6 of 40."""
    snapshots = common.WallClockSnapshots(None, [0.5, 0.125, 0.25], batch_size=8)
    ticker, history = fit_with(snapshots, monkeypatch)
    assert len(ticker.weights) == 6 and len(history.epoch) == 1  # stopped right after the last mark
    assert [(s["minutes"], s["steps"], s["seconds"]) for s in snapshots.snapshots] == [
        (0.125, 2, 10.0), (0.25, 3, 15.0), (0.5, 6, 30.0)]
    assert [s["images_per_s"] for s in snapshots.snapshots] == pytest.approx([2 * 8 / 10, 3 * 8 / 15, 6 * 8 / 30])
    for snap in snapshots.snapshots:
        recorded = ticker.weights[snap["steps"] - 1]
        assert all(np.array_equal(a, b) for a, b in zip(snap["weights"], recorded, strict=True))
    assert not np.array_equal(snapshots.snapshots[0]["weights"][0], snapshots.snapshots[2]["weights"][0])


def test_snapshots_at_step_counts_whatever_the_clock_says(monkeypatch):
    """unit="steps" (gan_quality.py --at-steps): marks 4 and 2 snapshot after steps 2 and 4, with the weights of that
    very step and the minutes they took (5 s a batch), then fit stops; the clock never decides."""
    snapshots = common.WallClockSnapshots(None, [4, 2], batch_size=8, unit="steps")
    ticker, history = fit_with(snapshots, monkeypatch)
    assert len(ticker.weights) == 4 and len(history.epoch) == 1  # stopped right after step 4
    assert [(s["minutes"], s["steps"], s["seconds"]) for s in snapshots.snapshots] == [
        (round(10 / 60, 2), 2, 10.0), (round(20 / 60, 2), 4, 20.0)]
    for snap in snapshots.snapshots:
        recorded = ticker.weights[snap["steps"] - 1]
        assert all(np.array_equal(a, b) for a, b in zip(snap["weights"], recorded, strict=True))


def test_snapshot_copy_time_is_not_counted(monkeypatch):
    """A network whose get_weights takes 100 s: the marks still fall on training time alone (7.5 s at step 2,
    22.5 s at step 5, not at step 3 as wall time would say); no batch size, no images/s."""
    clock = FakeClock()
    monkeypatch.setattr(common, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    copies = []

    class SlowNetwork:
        def get_weights(self):
            clock.now += 100.0
            copies.append(clock.now)
            return [np.array(len(copies))]

    model = types.SimpleNamespace(stop_training=False)
    callback = common.WallClockSnapshots(SlowNetwork(), [0.125, 0.375])
    callback.set_model(model)
    callback.on_train_begin()
    stopped_after = []
    for step in range(1, 8):
        clock.now += 5.0
        callback.on_train_batch_end(step - 1)
        stopped_after.append(model.stop_training)
    assert [(s["minutes"], s["steps"], s["seconds"]) for s in callback.snapshots] == [(0.125, 2, 10.0), (0.375, 5, 25.0)]
    assert [int(s["weights"][0]) for s in callback.snapshots] == [1, 2]
    assert all("images_per_s" not in s for s in callback.snapshots)
    assert callback.paused == pytest.approx(200.0)
    assert stopped_after == [False] * 4 + [True] * 3


# --- common.markdown -----------------------------------------------------------------------------------------------


def test_markdown_table_formats_floats_and_blanks_missing_values():
    """Header, separator, one line per row in column order; floats to 3 decimals, ints and strings as they are,
    None and absent keys blank (a run that lacks a metric must not shift the columns)."""
    rows = [{"model": "GAN", "minutes": 10, "fid": 1.83649, "cas": None},
            {"model": "VAE", "fid": 12.0, "extra": "not a column"}]
    assert common.markdown(rows, ["model", "minutes", "fid", "cas"]).split("\n") == [
        "| model | minutes | fid | cas |",
        "|---|---|---|---|",
        "| GAN | 10 | 1.836 |  |",
        "| VAE |  | 12.000 |  |"]
    assert common.markdown([]) == "| " + " | ".join(common.QUALITY_COLUMNS) + " |\n" + "|---" * 9 + "|"


# --- augmentation_benefit: data ----------------------------------------------------------------------------------


def test_draw_takes_exact_counts_per_class_without_replacement():
    """counts[c] distinct images of class c, each still paired with its own label; more than a class has fails."""
    x, y = labelled_ids([6, 5, 4, 6, 6, 6, 6, 6, 6, 6])
    counts = [3, 5, 0, 1, 6, 2, 2, 2, 2, 2]
    x_out, y_out = benefit.draw(x, y, counts, np.random.default_rng(0))
    assert np.bincount(y_out, minlength=10).tolist() == counts
    assert len(set(ids(x_out))) == len(x_out) == sum(counts)
    assert np.array_equal(y[ids(x_out)], y_out)
    assert set(ids(x_out[y_out == 1])) == set(np.flatnonzero(y == 1))  # all 5 of class 1
    x_again, _ = benefit.draw(x, y, counts, np.random.default_rng(0))
    assert np.array_equal(x_again, x_out)
    with pytest.raises(ValueError):
        benefit.draw(x, y, [7] + [1] * 9, np.random.default_rng(0))


def test_hold_out_keeps_a_fifth_of_each_class_and_at_least_one_image():
    """Held out per class: round(0.2 n), at least 1 (n = 1 and 2 lose their image to validation); the parts are
    disjoint, cover the input, and keep image-label pairs."""
    sizes = [10, 2, 5, 8, 13, 50, 3, 7, 12, 1]
    x, y = labelled_ids(sizes)
    (x_train, y_train), (x_val, y_val) = benefit.hold_out(x, y, np.random.default_rng(0))
    expected_val = [2, 1, 1, 2, 3, 10, 1, 1, 2, 1]
    assert np.bincount(y_val, minlength=10).tolist() == expected_val
    assert np.bincount(y_train, minlength=10).tolist() == [n - v for n, v in zip(sizes, expected_val)]
    train, val = set(ids(x_train)), set(ids(x_val))
    assert not train & val and train | val == set(range(len(y)))
    assert np.array_equal(y[ids(x_train)], y_train) and np.array_equal(y[ids(x_val)], y_val)
    (_, _), (x_val2, _) = benefit.hold_out(x, y, np.random.default_rng(1))
    assert set(ids(x_val2)) != val  # the held-out images are drawn, not the first of each class


def test_hold_out_on_a_low_data_subset():
    """The low-data experiment's split: 10 per class -> 8 train and 2 held out of every class."""
    x, y = labelled_ids([10] * 10)
    (_, y_train), (_, y_val) = benefit.hold_out(x, y, np.random.default_rng(3))
    assert np.bincount(y_train).tolist() == [8] * 10 and np.bincount(y_val).tolist() == [2] * 10


def test_oversample_tops_every_class_up_to_the_largest_with_its_own_images():
    """Originals first and unchanged, then copies of the same class (drawn with replacement) up to 7 each."""
    sizes = [7, 1, 3, 7, 2, 7, 7, 7, 7, 5]
    x, y = labelled_ids(sizes)
    x_out, y_out = benefit.oversample(x, y, np.random.default_rng(0))
    assert np.bincount(y_out).tolist() == [7] * 10
    assert np.array_equal(x_out[: len(y)], x) and np.array_equal(y_out[: len(y)], y)
    assert np.array_equal(y[ids(x_out)], y_out)
    assert set(ids(x_out[y_out == 1])) == {int(np.flatnonzero(y == 1)[0])}  # 7 copies of class 1's only image


def test_class_weights_make_every_class_weigh_the_same():
    """n / (K n_c) on 60 labels with classes of 10 and 5: 0.6 and 1.2; weight x count is n / K for every class."""
    y = np.repeat(np.arange(10), [10, 5, 5, 5, 5, 5, 5, 5, 5, 10])
    weights = benefit.class_weights(y)
    assert weights == pytest.approx({0: 0.6, **{c: 1.2 for c in range(1, 9)}, 9: 0.6})
    assert [weights[c] * n for c, n in enumerate(np.bincount(y))] == pytest.approx([6.0] * 10)


class MarkedSampler:
    """A conditional 'generator' whose sample of class c is the pixel value 200 + c: synthetic images are
    recognisable and carry their class."""

    config = {"latent_dim": 2, "value_range": (0.0, 255.0), "image_shape": [1, 1, 1], "num_classes": 10}

    def predict(self, inputs, batch_size=None, verbose=0):
        labels = np.asarray(inputs[1])
        return np.broadcast_to(200.0 + labels[:, None, None, None], (len(labels), 1, 1, 1)).astype("float32")


@pytest.mark.parametrize("share, synthetic", [
    (0.4, [0, 0, 0, 0, 0, 2, 2, 1, 1, 0]),  # 0.4 of shortfalls 5,4,3,2,1 = 2.0,1.6,1.2,0.8,0.4, rounded
    (0.0, [0] * 10),  # random oversampling
    (1.0, [0, 0, 0, 0, 0, 5, 4, 3, 2, 1]),  # augment's --balance
])
def test_rebalance_splits_each_shortfall_between_synthetic_and_real_copies(share, synthetic):
    """Every class ends at the largest (6); the real part is the originals plus copies of the same class, the
    synthetic part exactly round(share x shortfall) of each class, from the sampler, with its class."""
    sizes = [6, 6, 6, 6, 6, 1, 2, 3, 4, 5]
    x, y = labelled_ids(sizes)
    sampler = MarkedSampler()
    x_out, y_out = benefit.rebalance(x, y, sampler, sampler.config, share, seed=0)
    assert np.bincount(y_out).tolist() == [6] * 10
    is_syn = ids(x_out) >= 200
    assert np.bincount(y_out[is_syn], minlength=10).tolist() == synthetic
    assert np.array_equal(ids(x_out[is_syn]) - 200, y_out[is_syn])
    real, y_real = ids(x_out[~is_syn]), y_out[~is_syn]
    assert np.array_equal(real[: len(y)], np.arange(len(y))) and np.array_equal(y[real], y_real)
    copies = np.bincount(y_real[len(y):], minlength=10)
    assert copies.tolist() == [max(sizes) - n - k for n, k in zip(sizes, synthetic)]


def test_scores_accuracy_balanced_accuracy_minority_recall_and_loss():
    """25 test images, classes 0-4 three each all right, classes 5-9 two each one right: accuracy 20/25, balanced
    accuracy 0.75, minority recall 0.5; log loss from the probabilities of the true classes."""
    y = np.repeat(np.arange(10), [3] * 5 + [2] * 5)
    predicted = y.copy()
    predicted[np.flatnonzero(y >= 5)[::2]] = 0  # the first image of each of classes 5-9 taken for a 0
    probabilities = np.full((len(y), 10), 0.01)
    probabilities[np.arange(len(y)), predicted] = 0.91

    class Model:
        def predict(self, x, batch_size=None, verbose=0):
            assert x.dtype == np.float32
            return probabilities

    scores = benefit.scores(Model(), np.zeros((len(y), 2, 2, 1), np.uint8), y)
    assert scores == pytest.approx({"accuracy": 0.8, "balanced_accuracy": 0.75, "minority_recall": 0.5,
                                    "loss": -(20 * math.log(0.91) + 5 * math.log(0.01)) / 25})


def test_scores_on_the_classes_present_only():
    """Test images of classes 5-9 only (the transfer experiment): recalls average over those classes, not NaN."""
    y = np.repeat(np.arange(5, 10), 2)

    class Model:
        def predict(self, x, batch_size=None, verbose=0):
            return np.eye(10)[np.where(np.arange(len(y)) % 2, y, 0)]  # every second image taken for a 0

    scores = benefit.scores(Model(), np.zeros((len(y), 2, 2, 1), np.uint8), y)
    assert scores["balanced_accuracy"] == pytest.approx(0.5) and scores["minority_recall"] == pytest.approx(0.5)


@pytest.mark.slow
def test_low_data_imbalanced_and_transfer_smoke_run(tmp_path, monkeypatch):
    """Random images, 3 per class: the low-data arms with augment's output and its estimate beside the outcome; the
    imbalanced arms with two rebalancing shares, one arm each from the same generators; the transfer arms:
    generators on digits 0-4 once, fine-tuned (the GAN also with --freeze-d 1) and from scratch on 5-9, scored on
    the test images of 5-9, with the margins against classical augmentation; two mixing shares, one arm each."""
    monkeypatch.setattr(augment_tf.benefit, "FOLDS", 2)  # each estimate: 4 CNNs, not 6 (tests/test_benefit.py covers 3)
    rng = np.random.default_rng(0)
    for split, n in (("train", 200), ("test", 50)):
        np.savez(tmp_path / f"{split}.npz", x=rng.integers(0, 256, (n, 28, 28), np.uint8), y=np.arange(n) % 10)
    out = tmp_path / "smoke"
    benefit.main(["--data-dir", str(tmp_path), "--split", "test", "--per-class", "3", "--imbalance", "0.1",
                  "--rebalance-share", "0,1", "--transfer", "3", "--freeze-d", "0,1", "--synthetic-share", "0.1,0.5",
                  "--seeds", "1", "--gen-steps", "2", "--base-steps", "2", "--classifier-epochs", "1",
                  "--synthetic-per-class", "4", "--out", str(out)])
    result = json.loads((tmp_path / "smoke.json").read_text())
    low = {r["arm"]: r for r in result["rows"] if r["experiment"] == "low data"}
    assert low["augment output (VAE)"]["n_train"] == 20 + 40 and low["augment output (VAE)"]["estimate_verdict"]
    assert low["augment output (VAE)"]["estimate_copies_dropped_verdict"]  # the candidate, on the same file
    assert low["augment output (VAE)"]["estimate_held_out_verdict"]  # and on the slice the generators never saw
    skewed = {r["arm"]: r for r in result["rows"] if r["experiment"] == "imbalanced"}
    assert list(skewed) == ["as is", "random oversampling", "class-weighted loss", "GAN rebalancing, 0% synthetic",
                            "GAN rebalancing, 100% synthetic", "VAE rebalancing, 0% synthetic",
                            "VAE rebalancing, 100% synthetic"]
    assert skewed["as is"]["n_train"] == 5 * 16 + 5 * 1  # 20 of each of 0-4 and 2 of each of 5-9, a fifth held out
    assert all(skewed[arm]["n_train"] == 10 * 16 for arm in list(skewed)[3:])  # every class topped up to 16
    assert [arm for arm in low if "10%" in arm or "50%" in arm] == [  # one mixing arm per share
        f"{arm}, {share} of each batch" for arm in ("real + GAN", "real + VAE", "real + classical + best synthetic")
        for share in ("10%", "50%")]
    transfer = [r for r in result["rows"] if r["experiment"] == "transfer"]
    assert [r["arm"] for r in transfer] == ["real only", "real + classical"] + [
        f"real + classical + {name} {start}, {share} of each batch"
        for start, names in (("fine-tuned", "GV"), ("from scratch", "GV"), ("fine-tuned, FreezeD 1", "G"))
        for name in ("GAN", "VAE") if name[0] in names for share in ("10%", "50%")]
    assert {r["synthetic_share"] for r in transfer[2:]} == {0.1, 0.5}
    assert all(r["n_train"] == 10 for r in transfer)  # 3 of each of 5-9, one of each held out
    starts = [(g.get("start"), g["n_train"]) for g in result["generators"] if g["experiment"] == "transfer"]
    assert starts == [(None, 100), (None, 100), ("fine-tuned", 10), ("fine-tuned", 10), ("from scratch", 10),
                      ("from scratch", 10), ("fine-tuned, FreezeD 1", 10)]
    report = (tmp_path / "smoke.md").read_text()
    assert "real + classical + VAE fine-tuned, 50% of each batch − real + classical" in report
    assert "real + classical + GAN fine-tuned, FreezeD 1, 10% of each batch − real + classical" in report
    assert "real + classical + best synthetic, 50% of each batch − real + classical" in report
    assert "| classes 5-9 at 10% | VAE rebalancing, 100% synthetic − random oversampling | minority_recall |" in report
    assert "### the plain cross-validated estimate (augment's until 484dc26) against the scored outcome" in report
    assert "### augment's estimate (cross-validated, held-out copies dropped) against the scored outcome" in report
    assert "### the estimate on the held-out slice the generators never saw (augment --held-out)" in report


@pytest.fixture
def small_data_pool(tmp_path, monkeypatch):
    """A folder of random labelled images for small_data.py smoke runs, whose classifier epochs are one step each."""
    monkeypatch.setattr(benefit, "EPOCH_SAMPLES", (benefit.BATCH_SIZE, benefit.BATCH_SIZE))  # one step an epoch
    rng = np.random.default_rng(0)
    n = 10_200  # split_arrays holds out 10k: 200 images (20 of each class) to draw the subsets from
    np.savez(tmp_path / "train.npz", x=rng.integers(0, 256, (n, 28, 28), np.uint8), y=np.arange(n) % 10)
    return str(tmp_path)


@pytest.mark.slow
def test_small_data_recipes_smoke_run(small_data_pool, tmp_path):
    """Random images: every variant of augment's file and a mixing share, for the VAE with --augment (the GAN, and
    training without --augment, go the same way), scored on the validation split only, with each seed's margins."""
    from benchmarks import small_data

    small_data.main(["--data-dir", small_data_pool, "--per-class", "3", "--seeds", "1", "--gen-steps", "2",
                     "--classifier-epochs", "1", "--synthetic-per-class", "4", "--generators", "VAE",
                     "--generator-augment", "on",
                     "--variants", f"{small_data.ONE_AT_A_TIME},real-copies,mix-0.5-classical",
                     "--out", str(tmp_path / "smoke")])
    rows = json.loads((tmp_path / "smoke.json").read_text())["rows"]
    by_arm = {(r["generator"], r["variant"]): r for r in rows}
    assert len(rows) == 2 + 7 and by_arm["none", "real only"]["n_train"] == 20
    assert by_arm["VAE --augment", "file (4 per class)"]["n_train"] == 20 + 40
    assert by_arm["VAE --augment", "file, as many synthetic as real"]["n_train"] == 40
    assert by_arm["VAE --augment", "file, filtered at 0.9"]["n_train"] <= 60
    assert by_arm["VAE --augment", "file, real images repeated to half"]["n_train"] == 2 * 20 + 40
    assert by_arm["VAE --augment", "no file: 50% of each batch fresh synthetic + classical"]["n_train"] == 20
    with pytest.raises(SystemExit):
        small_data.parse_args(["--variants", "plain,sharpen"])
    table = (tmp_path / "smoke.md").read_text()
    assert "| 3 | none | real only |" in table and "| 3 | none | real + classical |" in table
    assert "− real + classical, each seed |" in table


@pytest.mark.slow
def test_small_data_fixed_strength_augmentation_is_a_gan_arm_of_its_own(small_data_pool, tmp_path):
    from benchmarks import small_data

    small_data.main(["--data-dir", small_data_pool, "--per-class", "3", "--seeds", "1", "--gen-steps", "2",
                     "--classifier-epochs", "1", "--synthetic-per-class", "4", "--generators", "GAN",
                     "--generator-augment", "on,fixed", "--variants", "plain", "--out", str(tmp_path / "smoke")])
    result = json.loads((tmp_path / "smoke.json").read_text())
    assert {r["generator"] for r in result["rows"]} == {"none", "GAN --augment", "GAN --augment --no-adaptive-augment"}
    assert [(g["augment"], g["adaptive_augment"]) for g in result["generators"]] == [(True, True), (True, False)]
    with pytest.raises(SystemExit):
        small_data.parse_args(["--generators", "GAN,VAE", "--generator-augment", "fixed"])


# --- augmentation_benefit: results ---------------------------------------------------------------------------------


def row(experiment, setting, arm, seed, accuracy, minority_recall=0.0, **extra):
    return {"experiment": experiment, "setting": setting, "arm": arm, "seed": seed, "accuracy": accuracy,
            "balanced_accuracy": accuracy, "minority_recall": minority_recall, **extra}


LOW, SKEW = "low data", "imbalanced"
BEST, CLASSICAL = "real + classical + best synthetic", "real + classical"


def test_summarise_mean_std_min_max_over_seeds_and_best_picks():
    """Groups by (experiment, setting, arm) in first-seen order; std with ddof 1 (0 for one seed); which generator
    was picked as best, counted over seeds."""
    rows = [row(LOW, "10 per class", "real only", 0, 0.70), row(LOW, "10 per class", "real only", 1, 0.74),
            row(LOW, "10 per class", BEST, 0, 0.80, best="GAN"), row(LOW, "10 per class", BEST, 1, 0.75, best="VAE"),
            row(LOW, "10 per class", BEST, 2, 0.85, best="GAN"), row(LOW, "50 per class", "real only", 0, 0.9),
            row(SKEW, "classes 5-9 at 1%", "as is", 0, 0.6, minority_recall=0.3)]
    summary = benefit.summarise(rows)
    assert [(e["experiment"], e["setting"], e["arm"], e["seeds"]) for e in summary] == [
        (LOW, "10 per class", "real only", 2), (LOW, "10 per class", BEST, 3), (LOW, "50 per class", "real only", 1),
        (SKEW, "classes 5-9 at 1%", "as is", 1)]
    assert summary[0]["accuracy"] == pytest.approx({"mean": 0.72, "std": math.sqrt(0.0008), "min": 0.70, "max": 0.74})
    assert summary[1]["accuracy"] == pytest.approx({"mean": 0.80, "std": 0.05, "min": 0.75, "max": 0.85})
    assert summary[1]["best_picks"] == {"GAN": 2, "VAE": 1} and "best_picks" not in summary[0]
    assert summary[3]["minority_recall"] == pytest.approx({"mean": 0.3, "std": 0.0, "min": 0.3, "max": 0.3})
    assert benefit.tables(summary).split("\n\n")[1].split("\n")[2:4] == [
        "| 10 per class | real only | 0.720 ± 0.028 (0.700–0.740) | 2 |  |",
        "| 10 per class | real + classical + best synthetic | 0.800 ± 0.050 (0.750–0.850) | 3 | GAN 2, VAE 1 |"]


def test_margins_are_seed_by_seed_differences_in_points():
    """Each target (best synthetic vs classical on accuracy, GAN / VAE rebalancing vs oversampling on minority
    recall), per setting: arm minus baseline on the seeds both have; 'yes' only if every margin is above 0."""
    rows = [row(LOW, "10 per class", CLASSICAL, 0, 0.78), row(LOW, "10 per class", BEST, 0, 0.80),
            row(LOW, "10 per class", CLASSICAL, 1, 0.76), row(LOW, "10 per class", BEST, 1, 0.75),
            row(LOW, "10 per class", BEST, 2, 0.99),  # no baseline on seed 2: left out
            row(LOW, "10 per class", "real only", 0, 0.10),
            row(LOW, "50 per class", CLASSICAL, 0, 0.90), row(LOW, "50 per class", BEST, 0, 0.93),
            row(SKEW, "classes 5-9 at 1%", "random oversampling", 0, 0.9, minority_recall=0.40),
            row(SKEW, "classes 5-9 at 1%", "random oversampling", 1, 0.9, minority_recall=0.50),
            row(SKEW, "classes 5-9 at 1%", "GAN rebalancing", 0, 0.1, minority_recall=0.45),
            row(SKEW, "classes 5-9 at 1%", "GAN rebalancing", 1, 0.1, minority_recall=0.55),
            row(SKEW, "classes 5-9 at 1%", "VAE rebalancing", 0, 0.1, minority_recall=0.40),  # a tie is no win
            row(SKEW, "classes 5-9 at 10%", "random oversampling", 0, 0.9, minority_recall=0.60),
            row(SKEW, "classes 5-9 at 10%", "VAE rebalancing, 10% synthetic", 0, 0.9, minority_recall=0.62),
            row(SKEW, "classes 5-9 at 10%", "VAE rebalancing, 50% synthetic", 0, 0.9, minority_recall=0.59),
            row(SKEW, "classes 5-9 at 10%", "VAE rebalancing 2", 0, 0.9, minority_recall=0.99)]  # not a variant
    assert benefit.margins(rows).split("\n") == [
        "### margins (scored split, seed by seed)",
        "",
        "| setting | comparison | metric | per seed (points) | better on every seed |",
        "|---|---|---|---|---|",
        f"| 10 per class | {BEST} − {CLASSICAL} | accuracy | +2.0, -1.0 | no |",
        f"| 50 per class | {BEST} − {CLASSICAL} | accuracy | +3.0 | yes |",
        "| classes 5-9 at 1% | GAN rebalancing − random oversampling | minority_recall | +5.0, +5.0 | yes |",
        "| classes 5-9 at 1% | VAE rebalancing − random oversampling | minority_recall | +0.0 | no |",
        "| classes 5-9 at 10% | VAE rebalancing, 10% synthetic − random oversampling | minority_recall | +2.0 | yes |",
        "| classes 5-9 at 10% | VAE rebalancing, 50% synthetic − random oversampling | minority_recall | -1.0 | no |"]
    assert benefit.margins([r for r in rows if r["arm"] != CLASSICAL and r["experiment"] == LOW]) == ""


def test_estimates_are_scored_against_the_outcome_seed_by_seed():
    """A call is right when its sign matches the scored gain over real only; "unclear" makes no call."""
    rows = [row(LOW, "10 per class", "real only", 0, 0.80), row(LOW, "10 per class", "real only", 1, 0.80),
            row(LOW, "10 per class", "augment output (GAN)", 0, 0.78, estimate_gain=-0.03, estimate_verdict="hurts"),
            row(LOW, "10 per class", "augment output (VAE)", 0, 0.79, estimate_gain=0.01, estimate_verdict="helps"),
            row(LOW, "10 per class", "augment output (VAE)", 1, 0.85, estimate_gain=0.0, estimate_verdict="unclear",
                estimate_copies_dropped_gain=0.02, estimate_copies_dropped_verdict="helps")]
    text = benefit.estimates(rows)
    assert "### the plain cross-validated estimate (augment's until 484dc26) against the scored outcome (1 of 2 " \
           "calls right, 1 without a call; gain off the outcome by 2.7 points on average)" in text
    assert "held-out copies dropped) against the scored outcome (1 of 1 calls right, 0 without a call; gain off the " \
           "outcome by 3.0 points" in text
    assert "| 10 per class | 1 | augment output (VAE) | helps (+2.0) | +5.0 | yes |" in text
    assert "| 10 per class | 0 | augment output (GAN) | hurts (-3.0) | -2.0 | yes |" in text
    assert "| 10 per class | 0 | augment output (VAE) | helps (+1.0) | -1.0 | no |" in text
    assert "| 10 per class | 1 | augment output (VAE) | unclear (+0.0) | +5.0 | no call |" in text
    assert benefit.estimates(rows[:2]) == ""


def test_sizes_and_argument_checks():
    """'10,50' lists and 'none'; shares outside their ranges, unknown estimates and --report without its JSON are
    refused; unset budgets come from QUICK or FULL."""
    assert benefit.sizes("10,50,200", int) == [10, 50, 200] and benefit.sizes("0.01,0.1", float) == [0.01, 0.1]
    assert benefit.sizes("none", float) == []
    quick = benefit.parse_args(["--quick", "--seeds", "2"])
    assert (quick.seeds, quick.per_class, quick.gen_steps) == (2, benefit.QUICK["per_class"], benefit.QUICK["gen_steps"])
    assert benefit.parse_args([]).classifier_epochs == benefit.FULL["classifier_epochs"]
    assert benefit.parse_args(["--rebalance-share", "0.5"]).rebalance_share == 0.5  # one share: a number, as before
    assert benefit.parse_args(["--rebalance-share", "0,0.25,1"]).rebalance_share == [0, 0.25, 1]
    assert benefit.parse_args([]).estimates == list(benefit.ESTIMATES)
    assert benefit.parse_args(["--estimates", "estimate_copies_dropped"]).estimates == ["estimate_copies_dropped"]
    assert benefit.parse_args(["--estimates", "none"]).estimates == []
    for bad in (["--synthetic-share", "1"], ["--synthetic-share", "0.1,1"], ["--estimates", "estimate,best_guess"],
                ["--rebalance-share", "1.5"], ["--rebalance-share", "0.25,2"], ["--rebalance-share", "none"],
                ["--freeze-d", "3"], ["--report", "--out", "/nonexistent/x"]):
        with pytest.raises(SystemExit):
            benefit.parse_args(bad)


# --- common.split_arrays / split_dirs: choose on validation, report on test -----------------------------------------


def test_split_holds_out_training_images_and_keeps_the_test_split_for_the_final_score(tmp_path, monkeypatch):
    """validation: train on the rest, score on the held-out images, never read the test split; test: train on the
    whole training split, score on the test split; the reference's training split is the rest in both."""
    monkeypatch.setattr(common, "VALIDATION_SIZE", 5)
    x, y = labelled_ids([2] * 10)
    np.savez(tmp_path / "train.npz", x=x, y=y)
    np.savez(tmp_path / "test.npz", x=x[:7] + 100, y=y[:7])
    train, score, rest, held = common.split_arrays(str(tmp_path), "validation")
    assert len(held[0]) == 5 and len(rest[0]) == 15
    assert sorted(np.r_[ids(held[0]), ids(rest[0])]) == list(range(20))
    assert ids(train[0]).tolist() == ids(rest[0]).tolist() and ids(score[0]).tolist() == ids(held[0]).tolist()
    assert all(ids(part[0]).max() < 100 for part in (train, score))  # the test split stays unread
    train_t, score_t, rest_t, held_t = common.split_arrays(str(tmp_path), "test")
    assert len(train_t[0]) == 20 and ids(score_t[0]).min() >= 100
    assert ids(rest_t[0]).tolist() == ids(rest[0]).tolist() and ids(held_t[0]).tolist() == ids(held[0]).tolist()

    train_dir, score_dir, floor = common.split_dirs(str(tmp_path), "test", str(tmp_path / "work"))
    from augment_tf import data

    assert train_dir == str(tmp_path) and ids(floor[0]).tolist() == ids(held[0]).tolist()
    assert ids(data.load_arrays(split="train", data_dir=score_dir)[0]).tolist() == ids(rest[0]).tolist()
    assert ids(data.load_arrays(split="test", data_dir=score_dir)[0]).min() >= 100


# --- seeds.py: one table over several runs ---------------------------------------------------------------------------


def test_seed_table_pools_rows_by_model_and_minutes(tmp_path):
    """Two runs' rows pooled by (model, minutes), or the fields asked for: mean ± std over runs, then each run's value
    in file order; a file that is not a quality run's result is one error line."""
    from benchmarks import seeds

    runs = [{"rows": [{"model": "floor", "fid": 0.5}, {"model": "GAN", "minutes": 10, "fid": 2.0, "steps": 100}]},
            {"quality": [{"model": "GAN", "minutes": 10, "fid": 1.0, "steps": 300}]}]
    groups = seeds.pooled(runs)
    assert groups[("GAN", 10)]["fid"] == [2.0, 1.0] and groups[("floor", None)]["fid"] == [0.5]
    lines = seeds.table(groups).splitlines()
    assert lines[2].startswith("| floor |  | 1 |") and "0.500 (0.500)" in lines[2]
    assert lines[3].startswith("| GAN | 10 | 2 | 200 ± 141 (100, 300) | ") and "1.500 ± 0.707 (2.000, 1.000)" in lines[3]
    budget = [{"rows": [{"model": "cGAN", "export": "best", "T": 1.2, "cas": 0.9, "epoch": 10},
                        {"model": "cGAN", "export": "last", "T": 1.2, "cas": 0.8}]},
              {"rows": [{"model": "cGAN", "export": "best", "T": 1.2, "cas": 0.7, "epoch": 20}]}]
    by = ("model", "export", "T")
    groups = seeds.pooled(budget, by, ["epoch", "cas"])  # training_budget.py's rows: each export on its own line
    assert groups[("cGAN", "best", 1.2)] == {"epoch": [10.0, 20.0], "cas": [0.9, 0.7]}
    lines = seeds.table(groups, by, ["epoch", "cas"]).splitlines()
    assert lines[0] == "| model | export | T | runs | epoch | cas |" and lines[1] == "|---|---|---|---|---|---|"
    assert lines[3] == "| cGAN | last | 1.2 | 1 |  | 0.800 (0.800) |"
    (tmp_path / "budget.json").write_text(json.dumps({"command": "training_budget.py", **budget[0]}))
    seeds.main([str(tmp_path / "budget.json"), "--by", "model,export,T", "--metrics", "cas"])
    seeds.main([str(tmp_path / "budget.json")])  # by default minutes may be absent (temperature.py's rows)
    with pytest.raises(AugmentError, match="--by exprot: no row of these files has that field"):
        seeds.main([str(tmp_path / "budget.json"), "--by", "model,exprot"])
    (tmp_path / "torn.json").write_text('{"rows": [')
    for path, words in ((tmp_path / "missing.json", "no such result file"), (tmp_path / "torn.json", "not a result")):
        with pytest.raises(AugmentError, match=words):
            seeds.main([str(path)])


def test_pool_joins_seeds_run_apart_and_refuses_mixed_recipes_splits_and_repeated_seeds(tmp_path, capsys):
    """augmentation_benefit.py --pool: two runs' rows become one report (seed-by-seed margins over both); a seed twice,
    another split or another recipe (e.g. generator steps) is refused, naming the files."""
    def run(name, seeds, split="test", gen_steps=0):
        rows = [row(LOW, "10 per class", arm, seed, acc + seed / 100)
                for seed in seeds for arm, acc in ((CLASSICAL, 0.80), (BEST, 0.82))]
        settings = {"split": split, "gen_steps": gen_steps, "synthetic_share": 0.25, "seeds": len(seeds)}
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"rows": rows, "generators": [{"seed": s} for s in seeds], "settings": settings,
                                    "command": f"run {name}"}))
        return str(path)

    first, rest = run("first", [10]), run("rest", [11, 12])
    out = str(tmp_path / "pooled")
    benefit.main(["--pool", first, rest, "--out", out])
    pooled = json.loads((tmp_path / "pooled.json").read_text())
    assert [r["seed"] for r in pooled["rows"]] == [10, 10, 11, 11, 12, 12] and len(pooled["generators"]) == 3
    assert [p["command"] for p in pooled["pooled"]] == ["run first", "run rest"]
    assert next(e for e in pooled["summary"] if e["arm"] == BEST)["seeds"] == 3
    assert f"| 10 per class | {BEST} − {CLASSICAL} | accuracy | +2.0, +2.0, +2.0 | yes |" in capsys.readouterr().out
    assert "Scored split: test. Pooled from:" in (tmp_path / "pooled.md").read_text()

    for other, words in ((run("again", [11]), "pool each seed once"), (run("validation", [13], split="validation"),
                         "pool like with like"), (run("longer", [14], gen_steps=1000), "pool like with like")):
        with pytest.raises(AugmentError, match=words):
            benefit.main(["--pool", first, rest, other, "--out", out])
    with pytest.raises(AugmentError, match="no such result file"):
        benefit.main(["--pool", first, str(tmp_path / "missing.json"), "--out", out])
    (tmp_path / "torn.json").write_text('{"rows": [')
    (tmp_path / "other.json").write_text('{"quality": []}')
    for bad in ("torn.json", "other.json"):
        with pytest.raises(AugmentError, match="not a result file of this benchmark"):
            benefit.main(["--pool", first, str(tmp_path / bad), "--out", str(tmp_path / "never")])
        with pytest.raises(AugmentError, match="not a result file of this benchmark"):  # --report reads it the same way
            benefit.main(["--report", "--out", str(tmp_path / bad.removesuffix(".json"))])
    assert not list(tmp_path.glob("never*"))  # nothing half-written


# --- gan_variants: each variant changes the one thing it names --------------------------------------------------


@pytest.mark.slow  # seven GANs built, three trained: a benchmark's own check, half a minute
def test_gan_variants_change_one_default_each_and_train():
    from benchmarks.gan_variants import VARIANTS

    config = dict(image_shape=(8, 8, 1), latent_dim=4, width=4, seed=0, augment=False, num_classes=3,
                  conditional=True, jit_compile="off")

    def settings(model):
        adam = lambda opt: (round(float(opt.learning_rate), 8), opt.beta_1, opt.beta_2)
        return dict(cls=type(model).__name__, minibatch_std=model.minibatch_std, d=adam(model.d_optimizer),
                    g=adam(model.g_optimizer), weights=model.count_params())

    defaults = settings(VARIANTS["defaults"](config))
    changed = {name: {k: v for k, v in settings(build(config)).items() if v != defaults[k]}
               for name, build in VARIANTS.items()}
    assert changed["defaults"] == {}
    assert changed["alternating"] == {"cls": "AlternatingConditionalGAN"}
    assert changed["adam-beta1-0.5"] == {"d": (4e-4, 0.5, 0.999), "g": (4e-4, 0.5, 0.999)}
    assert changed["lr-2e-4"] == {"d": (2e-4, 0.0, 0.99), "g": (2e-4, 0.0, 0.99)}
    assert set(changed["no-minibatch-std"]) == {"minibatch_std", "weights"}
    assert changed["mode-seeking"] == {"cls": "ModeSeekingConditionalGAN"}
    assert changed["r1"] == {"cls": "R1ConditionalGAN"}

    x = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 1)).astype("float32")
    y = np.array([0, 1, 2, 0])
    for name in ("alternating", "mode-seeking", "r1"):
        model = VARIANTS[name](config)
        d_before = [w.copy() for w in model.discriminator.get_weights()]
        g_before = [w.copy() for w in model.generator.get_weights()]
        logs = model.fit(x, y, batch_size=4, epochs=1, verbose=0).history
        assert int(model.d_optimizer.iterations) == int(model.g_optimizer.iterations) == 1, name
        assert any(not np.array_equal(a, b) for a, b in zip(d_before, model.discriminator.get_weights())), name
        assert any(not np.array_equal(a, b) for a, b in zip(g_before, model.generator.get_weights())), name
        assert np.isfinite(logs["d_loss"][0]) and np.isfinite(logs["g_loss"][0]), name


# --- few_labels -------------------------------------------------------------------------------------------------


def test_few_labels_confusion_counts_true_class_by_predicted_class():
    from benchmarks import few_labels

    class Fixed:  # predicts class 1 for the first image, class 9 for the others
        def predict(self, x, batch_size, verbose):
            p = np.zeros((len(x), 10), np.float32)
            p[0, 1] = p[1:, 9] = 1.0
            return p

    counts = np.array(few_labels.confusion(Fixed(), np.zeros((3, 28, 28, 1), np.uint8), np.array([1, 4, 9])))
    expected = np.zeros((10, 10), int)
    expected[1, 1] = expected[4, 9] = expected[9, 9] = 1
    assert np.array_equal(counts, expected)


def test_few_labels_draws_the_same_number_of_each_class_and_scores_pseudo_labels():
    from benchmarks import few_labels

    y = np.repeat(np.arange(10), 7)
    keep = few_labels.draw_labels(y, 30, np.random.default_rng(0))
    assert keep.sum() == 30 and np.array_equal(np.bincount(y[keep]), [3] * 10)
    assert not np.array_equal(keep, few_labels.draw_labels(y, 30, np.random.default_rng(1)))

    probabilities = np.array([[0.99, 0.01], [0.6, 0.4], [0.2, 0.8], [0.05, 0.95]])
    quality = few_labels.pseudo_label_quality(probabilities, np.array([0, 1, 1, 0]), thresholds=(0.0, 0.9, 0.99))
    assert quality == {"0.0": (1.0, 0.5), "0.9": (0.5, 0.5), "0.99": (0.25, 1.0)}

    rows = [{"labels": 100, "arm": "a", "accuracy": acc, "seed": s, "fid": fid}
            for s, (acc, fid) in enumerate([(0.9, 2.0), (0.8, 4.0)])]
    table = few_labels.summary_table(rows)
    assert "| 100 | a | 0.8500 ± 0.0707 (0.8000-0.9000) | 0.9000, 0.8000 | fid 3.0000 |" in table
    args = few_labels.parse_args(["--labels", "100,600", "--classifier-option", "threshold=0.9",
                                  "--classifier-option", "ema_decay=None"])
    assert args.labels == [100, 600] and args.classifier_option == {"threshold": 0.9, "ema_decay": None}
    with pytest.raises(SystemExit):
        few_labels.parse_args(["--labels", "105"])


def test_few_labels_pool_reports_seeds_run_apart_as_one_table(tmp_path):
    """--pool: the seed-10 run (with the ceiling) and a later seed-11 run give one table over both seeds; runs of
    another generator are refused."""
    from benchmarks import few_labels

    def run(name, seed, generator="vae", ceiling=False):
        rows = [{"labels": 100, "seed": seed, "arm": "augment output", "accuracy": 0.96 + (seed - 10) / 1000}]
        rows += [{"labels": 60000, "seed": seed, "arm": "all labels (ceiling)", "accuracy": 0.99}] if ceiling else []
        (tmp_path / f"{name}.json").write_text(json.dumps(
            {"rows": rows, "split": "test", "settings": {"generator": generator}, "command": name}))
        return str(tmp_path / f"{name}.json")

    out = str(tmp_path / "pooled")
    few_labels.main(["--pool", run("seed10", 10, ceiling=True), run("seed11", 11), "--out", out])
    table = (tmp_path / "pooled.md").read_text()
    assert "| 100 | augment output | 0.9605 ± 0.0007 (0.9600-0.9610) | 0.9600, 0.9610 |" in table
    assert "| 60000 | all labels (ceiling) |" in table and "Scored split: test." in table
    with pytest.raises(AugmentError, match="pool like with like"):
        few_labels.main(["--pool", str(tmp_path / "seed10.json"), run("gan", 12, generator="gan"), "--out", out])


@pytest.mark.slow
def test_distributed_benchmark_measures_in_fresh_processes(tmp_path):
    """One device and two workers, a few steps each: figures come back from the chief, parameters agree."""
    from benchmarks import distributed
    from tests.conftest import random_digits

    args = types.SimpleNamespace(steps=2, data_dir=random_digits(tmp_path, distributed.BATCH_SIZE))
    one = distributed.run_fresh("vae", "one device", "float32", args)
    two = distributed.run_fresh("vae", "2 workers", "float32", args)
    assert one["parameters"] == two["parameters"] > 0
    assert one["images_per_s"] > 0 and two["images_per_s"] > 0
    assert one["ms_per_step"] == pytest.approx(1000 * distributed.BATCH_SIZE / one["images_per_s"])


# --- bad input -----------------------------------------------------------------------------------------------------

DATA_BENCHMARKS = ["gan_quality", "vae_quality", "augmentation_benefit", "few_labels", "small_data", "throughput",
                   "augment_speed", "distributed"]


@pytest.mark.parametrize("script", [s for s in DATA_BENCHMARKS if s != "distributed"])  # it measures in fresh
def test_benchmark_main_with_a_wrong_data_dir_says_so_in_one_line_and_exits_2(script, tmp_path, capfd):  # processes
    """Each script's `main` as its `__main__` block runs it (`cli.run`), in this process; capfd, as a script may hand
    the path to a command it runs (augment_speed.py), whose error line is the first."""
    module = importlib.import_module(f"benchmarks.{script}")
    missing = tmp_path / "no_such_mnist"
    code, _, err = command_error(module.main, ["--data-dir", missing], capfd)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, err
    assert "Traceback" not in err
    assert errors and str(missing) in errors[0]


@pytest.mark.parametrize("script", [s if s == "gan_quality" else pytest.param(s, marks=pytest.mark.slow)
                                    for s in DATA_BENCHMARKS])
def test_benchmark_with_a_wrong_data_dir_says_so_in_one_line_and_exits_2(script, tmp_path):
    """As the `python -m augment_tf.X` commands do: no traceback, exit status 2, the path named. Each script as a real
    process (TensorFlow's start-up, seconds each): gan_quality.py in the default run, the rest with the slow tests
    (their `main`s run in-process above, but distributed.py's, which measures in fresh processes)."""
    missing = tmp_path / "no_such_mnist"
    result = subprocess.run([sys.executable, f"benchmarks/{script}.py", "--data-dir", str(missing)],
                            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert errors and str(missing) in errors[0]


def test_knn_accuracy_counts_votes_of_the_k_nearest():
    """Two clusters: a query near one gets its label; k = 3 outvotes one mislabelled neighbour."""
    from benchmarks.codes import knn_accuracy

    base = np.array([[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10]], float)
    labels = np.array([0, 0, 1, 1, 1, 1])  # one point of the first cluster mislabelled
    queries, truth = np.array([[0.2, 0.2], [10.5, 10.5]]), np.array([0, 1])
    assert knn_accuracy(base, labels, queries, truth, 3) == 1.0
    assert knn_accuracy(base, labels, queries, np.array([1, 1]), 3) == 0.5


@pytest.mark.slow
def test_temperature_smoke_run_scores_each_temperature_and_the_filter(small_data_pool, tmp_path):
    """Random images, tiny runs: one row per (family, T) and per filtered T, with the T in the row's name, and a
    second call reuses the trained runs (benchmarks/temperature.py --smoke)."""
    from benchmarks import temperature

    argv = ["--data-dir", small_data_pool, "--smoke", "--n", "100", "--temperatures", "1.0,1.5", "--filter-at", "1.2",
            "--threshold", "0.01", "--work-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    temperature.main(argv)
    rows = json.loads((tmp_path / "out" / "validation_seed0.json").read_text())["rows"]
    assert [(r["model"], r["T"], r["filter"]) for r in rows] == [
        ("conditional GAN, T 1", 1.0, None), ("conditional GAN, T 1.5", 1.5, None),
        ("conditional GAN, T 1.2, filtered", 1.2, 0.01), ("conditional VAE, T 1", 1.0, None),
        ("conditional VAE, T 1.5", 1.5, None), ("conditional VAE, T 1.2, filtered", 1.2, 0.01)]
    assert all(r["n_samples"] <= 100 and 0 <= r["cas"] <= 1 for r in rows)
    trained = os.path.getmtime(tmp_path / "runs" / "gan-validation-seed0" / "config.json")
    temperature.main([*argv, "--families", "gan", "--filter-at", "none"])
    assert os.path.getmtime(tmp_path / "runs" / "gan-validation-seed0" / "config.json") == trained


@pytest.mark.slow
def test_training_budget_smoke_run(tmp_path, monkeypatch):
    """Random images, tiny runs of seconds: the rows of each arm (the budgets' exports and last epochs, the second
    set's), the short run kept as it ended before the long one resumed it (benchmarks/training_budget.py --smoke)."""
    from benchmarks import training_budget

    rng = np.random.default_rng(0)
    n = 11_200  # split_arrays holds out 10k: 1,200 to train on, of which the run holds out 120
    np.savez(tmp_path / "train.npz", x=rng.integers(0, 256, (n, 28, 28), np.uint8), y=np.arange(n) % 10)
    training_budget.main(["--data-dir", str(tmp_path), "--smoke", "--n", "100", "--minutes", "0.05,0.5",
                          "--per-class", "20", "--work-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    rows = json.loads((tmp_path / "out" / "validation_seed0.json").read_text())["rows"]
    names = [(r["model"], r["export"]) for r in rows]
    assert names[0] == ("MNIST cGAN, defaults before (22 epochs)", "exported")
    for arm in ("MNIST cGAN, --minutes 0.05", "MNIST cGAN, --minutes 0.5", "inverted digits 0-4, 20 each"):
        assert (arm, "exported") in names and (arm, "last epoch") in names
    kept = training_budget.runs.read_config(tmp_path / "runs" / "minutes0.05-kept-validation-seed0")
    longer = training_budget.runs.read_config(tmp_path / "runs" / "minutes0.05-validation-seed0")
    assert kept["minutes"] == 0.05 and longer["minutes"] == 0.5 and kept["held_out"] == 120
    assert all(r["n_samples"] <= 100 and 0 <= r["cas"] <= 1 for r in rows)
