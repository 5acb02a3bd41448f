"""What a training command refuses before it does any work: bad settings of an --unlabeled run, flags a resumed run
cannot take, and a run folder another training is writing."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from augment_tf import files, pseudo_labels, runs, train_gan, train_vae
from augment_tf.errors import AugmentError
from tests import conftest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--steps", "2", *conftest.TINY]


def few_labels(folder):
    """(labelled .npz, unlabelled .npz): 20 labelled random 'digits' (2 a class) and 40 unlabelled ones."""
    rng = np.random.default_rng(0)
    np.savez(folder / "labelled.npz", x=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), y=np.arange(20) % 10)
    np.savez(folder / "unlabelled.npz", x=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8))
    return str(folder / "labelled.npz"), str(folder / "unlabelled.npz")


@pytest.mark.parametrize("main, flags, message", [
    (train_gan.main, ["--freeze-d", "1"], "--freeze-d keeps layers as an --init-from run trained them"),
    (train_gan.main, ["--no-augment", "--adaptive-augment"], "--adaptive-augment adapts how often"),
    (train_vae.main, ["--beta", "-1"], "--beta and --kl-anneal-epochs must be >= 0"),
    (train_vae.main, ["--learning-rate", "0"], "--learning-rate > 0"),
])
def test_unlabeled_run_refuses_bad_settings_before_labelling_and_writes_nothing(main, flags, message, tmp_path,
                                                                                monkeypatch):
    labelled, unlabelled = few_labels(tmp_path)

    def labelling_started(*args, **kwargs):
        raise AssertionError("the labelling classifier started before the settings were checked")

    monkeypatch.setattr(pseudo_labels, "label_run", labelling_started)
    out = tmp_path / "run"
    with pytest.raises(AugmentError, match=message):
        main(["--conditional", "--data-dir", labelled, "--unlabeled", unlabelled, "--out", str(out), *TINY, *flags])
    assert sorted(os.listdir(tmp_path)) == ["labelled.npz", "unlabelled.npz"]  # no run folder, no lock file


@pytest.mark.parametrize("flag, value, saved", [
    ("--batch-size", "32", "16"), ("--seed", "4", "3"), ("--no-augment", None, "on"), ("--augment", None, "off"),
    ("--no-adaptive-augment", None, "on"), ("--latent-dim", "16", "8"), ("--precision", "mixed_bfloat16", "float32"),
])
def test_resume_refuses_a_flag_that_differs_from_the_run_naming_it(flag, value, saved, short_gan_run, tmp_path,
                                                                     npz_data):
    run = short_gan_run  # a finished run (seed 3), unchanged by a refusal
    if flag == "--augment":  # a run trained without --augment, to refuse turning it on
        run = tmp_path / "plain"
        train_gan.main(["--conditional", "--data-dir", npz_data, "--out", str(run), "--no-augment", *TINY])
    before = {name: (run / name).read_bytes() for name in ("config.json", "checkpoint.keras")}
    with pytest.raises(AugmentError) as refused:
        train_gan.main(["--out", str(run), "--resume", "--steps", "4", flag, *([value] if value else [])])
    message = str(refused.value)
    assert message.startswith(f"{flag.replace('--no-', '--')} ") and f"trains with {flag.replace('--no-', '--')} " \
        f"{saved}" in message and "a resumed run keeps its settings" in message, message
    assert {name: (run / name).read_bytes() for name in before} == before


def test_resume_takes_flags_that_match_the_run_and_applies_length_and_jit(tmp_path, npz_data):
    run = tmp_path / "run"
    train_gan.main(["--conditional", "--data-dir", npz_data, "--out", str(run), "--seed", "3", *TINY])
    same = ["--seed", "3", "--batch-size", "16", "--conditional", "--data-dir", npz_data, "--augment"]
    train_gan.main(["--out", str(run), "--resume", "--epochs", "2", "--jit-compile", "off", *same])
    config = json.loads((run / "config.json").read_text())
    assert config["epochs_requested"] == 2 and config["jit_compile"] == "off"
    assert runs.completed_epochs(run) == 2


def test_a_run_folder_in_use_refuses_a_second_training_at_once(tmp_path, npz_data):
    out = tmp_path / "run"
    with files.claim(out):
        with pytest.raises(AugmentError, match="is in use by another command"):
            train_gan.main(["--conditional", "--data-dir", npz_data, "--out", str(out), *TINY])
        assert not out.exists()
    # the lock file of a killed run (process gone, file left) blocks nothing
    (tmp_path / ".run.lock").write_text("999999")
    train_gan.main(["--conditional", "--data-dir", npz_data, "--out", str(out), *TINY])
    assert (out / "generator.keras").is_file() and not (tmp_path / ".run.lock").exists()


@pytest.mark.slow
def test_two_trainings_started_into_one_folder_at_once_one_runs_and_one_refuses(tmp_path, npz_data):
    out = tmp_path / "run"
    command = [sys.executable, "train_gan.py", "--conditional", "--data-dir", npz_data, "--out", str(out),
               "--steps", "60", "--batch-size", "16", "--latent-dim", "8", "--width", "8"]
    started = [subprocess.Popen([*command, "--seed", str(seed)], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in started]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(stderr for code, stderr in results if code == 2)
    assert refused.count("\n") == 1 and ("is in use by another command" in refused or "already holds a run" in refused)
    winner = next(seed for seed, (code, _) in zip((1, 2), results) if code == 0)
    assert json.loads((out / "config.json").read_text())["seed"] == winner
