"""Training that knows its own quality: the held-out slice, QualityMonitor (scores, best snapshot, patience), the time
budget, the run's own temperature, and what a run records and exports."""

import json

import keras
import numpy as np
import pytest

from augment_tf import held_out, quality, reference, runs, sampling, train_gan, train_vae, training_options
from augment_tf.callbacks import TimeBudget
from augment_tf.errors import AugmentError
from augment_tf.models import ConditionalGAN
from tests import conftest
from tests.conftest import command_error

TINY = ["--batch-size", "50", "--latent-dim", "8", "--width", "8"]


@pytest.fixture(scope="module")
def digits_1000(tmp_path_factory):
    """1,000 random labelled 'digits': the fewest that hold out a slice (100)."""
    return conftest.random_digits(tmp_path_factory.mktemp("digits1000"), 1000, seed=2)


def test_held_out_size_and_rows():
    assert held_out.size(999) == 0 and held_out.size(1000) == 100 and held_out.size(60_000) == held_out.MAX
    y = np.array([0, 1, -1, 2, 3, -1, 4, 5, 6, 7] * 30)
    rest, held = held_out.split(y, 20, seed=4)
    assert len(held) == 20 and np.all(y[held] != -1)  # only labelled rows are held out
    assert sorted([*rest, *held]) == list(range(len(y)))
    assert np.array_equal(held, held_out.split(y, 20, seed=4)[1])  # the seed decides which
    assert not np.array_equal(held, held_out.split(y, 20, seed=5)[1])


def test_the_family_rule_picks_the_temperature():
    """The validation rows that chose the family defaults (results/temperature/HISTORY.md) give them again."""
    def rows(table):
        return [{"temperature": t, "label_fidelity": f, "cas": c} for t, f, c in table]

    gan = rows([(1.0, .9924, .9642), (1.1, .9876, .9660), (1.2, .9809, .9684), (1.3, .9701, .9680), (1.4, .959, .9676)])
    vae = rows([(1.0, .9878, .9691), (1.1, .9779, .9701), (1.2, .9655, .9699), (1.3, .9514, .9707)])
    assert quality.pick_temperature(gan) == 1.2 and quality.pick_temperature(vae) == 1.0
    assert quality.pick_temperature(rows([(1.0, 0.5, 0.9), (1.1, 0.4, 0.95)])) == 1.0  # none faithful: the lowest


def tiny_model():
    model = ConditionalGAN(num_classes=10, latent_dim=8, width=8, seed=0)
    model.compile()
    return model


def scripted_scores(monkeypatch, fids):
    """HeldOut.score returns these FIDs in turn: which epoch is best is the test's to say."""
    fids = iter(fids)
    monkeypatch.setattr(quality.HeldOut, "score", lambda self, x, labels=None: {
        "fid": next(fids), "precision": 0.5, "recall": 0.5, **({} if labels is None else {"label_fidelity": 0.99})})


class WeightsAtEpochEnd(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def fit_with(monitor, epochs=4):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, 28, 28, 1)).astype("float32")
    y = np.arange(64) % 10
    model, weights = tiny_model(), WeightsAtEpochEnd()
    history = model.fit(x, y, batch_size=32, epochs=epochs, callbacks=[monitor, weights], verbose=0)
    return model, weights.weights, history


def held(n=40):
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 256, (n, 28, 28, 1), np.uint8), np.arange(n) % 10
    return quality.HeldOut(x, y, reference.train_classifier(x, y, 10, steps=2))


def test_monitor_scores_every_epoch_into_the_logs():
    monitor = quality.QualityMonitor(held())
    _, _, history = fit_with(monitor, epochs=2)
    for name in ("val_fid", "val_precision", "val_recall", "val_label_fidelity"):
        assert len(history.history[name]) == 2 and np.isfinite(history.history[name]).all()
    assert [r["epoch"] for r in monitor.records] == [1, 2]
    assert 0 <= history.history["val_label_fidelity"][0] <= 1


@pytest.mark.parametrize("in_file", [False, True])
def test_restore_best_ends_on_the_best_epochs_weights(monkeypatch, tmp_path, in_file):
    scripted_scores(monkeypatch, [5.0, 3.0, 4.0, 6.0])
    monitor = quality.QualityMonitor(held(), restore_best=True, record=str(tmp_path / "quality.json"),
                                     snapshot=str(tmp_path / "best.npz") if in_file else None)
    model, weights, _ = fit_with(monitor)
    assert monitor.best["epoch"] == 2
    for now, best, last in zip(model.get_weights(), weights[1], weights[3]):
        np.testing.assert_array_equal(now, best)
    assert any(not np.array_equal(b, w) for b, w in zip(weights[1], weights[3]))  # the test can tell them apart
    saved = json.loads((tmp_path / "quality.json").read_text())
    assert saved["best"]["epoch"] == 2 and [r["fid"] for r in saved["records"]] == [5.0, 3.0, 4.0, 6.0]
    assert saved["held_out"] == 40 and saved["scoring_share"] > 0


def test_patience_stops_training(monkeypatch):
    scripted_scores(monkeypatch, [3.0, 4.0, 5.0, 6.0, 7.0])
    monitor = quality.QualityMonitor(held(), patience=2)
    _, weights, _ = fit_with(monitor, epochs=5)
    assert monitor.stopped_at == 3 and len(weights) == 3


def test_time_budget_stops_at_an_epoch_end():
    budget = TimeBudget(minutes=1e-6)
    _, weights, _ = fit_with(budget, epochs=3)
    assert budget.stopped_at == 1 and len(weights) == 1
    with pytest.raises(ValueError):
        TimeBudget(minutes=0)


def test_a_run_exports_its_best_epoch_and_keeps_the_last_to_resume(monkeypatch, digits_1000, tmp_path, capsys):
    scripted_scores(monkeypatch, [2.0, 5.0, 9.0, 9.0])  # epochs 1-2, then the temperatures' scorings
    run = tmp_path / "run"
    train_gan.main(["--conditional", "--quality", "--data-dir", digits_1000, "--epochs", "2", "--out", str(run), *TINY])
    err = capsys.readouterr().err
    assert "100 of the 1000 labelled images held out" in err
    config = runs.read_config(run)
    assert config["held_out"] == 100 and config["n_train"] == 900 and config["best"]["epoch"] == 1
    assert config["held_out_temperature"] in quality.TEMPERATURES
    record = json.loads((run / runs.QUALITY).read_text())
    assert [r["epoch"] for r in record["records"]] == [1, 2] and len(record["temperatures"]) == 2
    exported = keras.saving.load_model(run / "generator.keras")
    checkpoint = runs.load_checkpoint(str(run), config)
    with np.load(run / runs.BEST_WEIGHTS) as best:
        best_model = ConditionalGAN.from_config(checkpoint.get_config())
        best_model.set_weights([best[k] for k in sorted(best.files)])
    for got, want in zip(exported.get_weights(), best_model.ema_generator.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert any(not np.array_equal(a, b) for a, b in zip(exported.get_weights(),
                                                        checkpoint.ema_generator.get_weights()))
    assert sampling.default_temperature(config) == 1.2  # the family's: the run's choice is reported only


@pytest.mark.slow  # two runs and their temperature choices: half a minute
def test_resume_carries_the_curve_and_the_budget(digits_1000, tmp_path):
    run = tmp_path / "run"
    argv = ["--conditional", "--data-dir", digits_1000, "--out", str(run), *TINY]
    train_gan.main([*argv, "--quality", "--epochs", "1"])
    first = json.loads((run / runs.STATE).read_text())
    assert first["epoch"] == 1 and first["seconds"] > 0
    train_gan.main([*argv, "--resume", "--epochs", "2"])
    record = json.loads((run / runs.QUALITY).read_text())
    assert [r["epoch"] for r in record["records"]] == [1, 2]
    assert json.loads((run / runs.STATE).read_text())["seconds"] > first["seconds"]
    with pytest.raises(AugmentError, match="whole --minutes"):
        train_gan.main([*argv, "--resume", "--minutes", str(first["seconds"] / 120)])


@pytest.mark.slow  # a VAE's prior fitted before each scoring: half a minute
def test_a_vae_run_scores_its_fitted_prior(digits_1000, tmp_path):
    run = tmp_path / "run"
    train_vae.main(["--conditional", "--quality", "--data-dir", digits_1000, "--epochs", "2", "--out", str(run), *TINY])
    record = json.loads((run / runs.QUALITY).read_text())
    assert len(record["records"]) == 2 and runs.read_config(run)["best"]["epoch"] in (1, 2)


def test_without_the_curve(digits_1000, npz_data, tmp_path, capsys):
    """The default since the validation run of benchmarks/results/training_budget/HISTORY.md."""
    train_gan.main(["--conditional", "--data-dir", digits_1000, "--epochs", "1", "--out", str(tmp_path / "off"), *TINY])
    config = runs.read_config(tmp_path / "off")
    assert config["held_out"] == 0 and config["n_train"] == 1000 and not (tmp_path / "off" / runs.QUALITY).exists()
    assert "quality curve" not in capsys.readouterr().err
    train_gan.main(["--conditional", "--quality", "--data-dir", npz_data, "--epochs", "1", "--out",
                    str(tmp_path / "small"), *TINY])
    assert "quality curve: off" in capsys.readouterr().err
    small = runs.read_config(tmp_path / "small")
    assert "temperature" not in small and small["quality"] and not small["held_out"]
    train_gan.main(["--conditional", "--quality", "--resume", "--epochs", "2", "--out", str(tmp_path / "small")])
    assert json.loads((tmp_path / "small" / runs.STATE).read_text())["epoch"] == 2  # the flag it was started with


@pytest.mark.parametrize("argv, says", [
    (["--minutes", "0"], "--minutes is a time budget and must be more than 0"),
    (["--minutes", "-5"], "--minutes is a time budget and must be more than 0"),
    (["--minutes", "nan"], "--minutes is a time budget and must be more than 0"),
    (["--patience", "0"], "--patience must be a positive integer"),
    (["--patience", "3"], "which --quality turns on"),
])
def test_bad_budgets_are_refused(npz_data, tmp_path, capsys, argv, says):
    status, _, err = command_error(train_gan.main, ["--data-dir", npz_data, "--out", tmp_path / "r", *argv], capsys)
    assert status == 2 and says in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_patience_without_a_slice_is_refused(npz_data, tmp_path, capsys):
    status, _, err = command_error(train_gan.main, ["--data-dir", npz_data, "--quality", "--patience", "2", "--out",
                                                    tmp_path / "r", *TINY], capsys)
    assert status == 2 and "this run has none" in err
    train_gan.main(["--data-dir", npz_data, "--steps", "2", "--out", str(tmp_path / "r"), *TINY])
    status, _, err = command_error(train_gan.main, ["--out", tmp_path / "r", "--resume", "--patience", "2"], capsys)
    assert status == 2 and "trains without one" in err


def test_minutes_alone_is_open_ended():
    assert training_options.default_length(60_000, 128, 22, minutes=10) == (training_options.OPEN_ENDED_EPOCHS, None)
    assert training_options.default_length(60_000, 128, 22) == (22, None)
