"""Progress of the long steps: on stderr (a line per stage off a terminal), never on stdout, which holds the result."""

import json
import sys

import numpy as np
import pytest

from augment_tf import (defaults, evaluate, generate, impute, masks, posterior, progress, pseudo_labels, runs,
                        sampling)
from tests.conftest import progress_lines


def masked(path, n=10):
    """An impute input of `n` random images with their bottom halves missing."""
    x = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    np.savez(path, x=x, mask=masks.half_mask(x.shape))
    return str(path)


def test_shown_routes_keras_output_to_stderr_as_a_bar_on_a_terminal_and_lines_elsewhere(capsys, monkeypatch):
    with progress.shown(False) as verbose:
        print("result")
    assert verbose == 0 and capsys.readouterr().out == "result\n"
    with progress.shown() as verbose:
        print("1/1 - 0s")
    assert verbose == 2 and capsys.readouterr() == ("", "1/1 - 0s\n")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with progress.shown() as verbose:
        assert verbose == 1


def test_evaluate_shows_both_classifiers_training_on_stderr_and_prints_only_json(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("test", 30)):
        np.savez(tmp_path / f"{split}.npz", x=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), y=np.arange(n) % 3)
    np.savez(tmp_path / "samples.npz", x=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), y=np.arange(20) % 3)
    evaluate.main([str(tmp_path / "samples.npz"), "--data-dir", str(tmp_path), "--cas", "--classifier-steps", "3"])
    out, err = capsys.readouterr()
    assert "training the reference classifier once" in err and "training the CAS classifier on 20 samples" in err
    assert len(progress_lines(err, 3)) == 2, err
    assert len(out.splitlines()) == 1 and "cas" in json.loads(out)


def test_generate_shows_a_bar_of_the_samples_and_draws_the_same_in_chunks(three_class_gan_run, tmp_path, capsys,
                                                                          monkeypatch):
    generate.main([three_class_gan_run, "--n", "30", "--out", str(tmp_path / "s.npz")])
    out, err = capsys.readouterr()
    assert progress_lines(err, 30) and out == (
        f"wrote 30 samples (temperature {defaults.TEMPERATURE['GAN']:g}) to {tmp_path / 's.npz'}\n")
    sampler, config = runs.load_sampler(three_class_gan_run)
    labels = sampling.balanced_labels(25, range(3))
    whole = sampling.sample(sampler, config, labels=labels, batch_size=2, seed=4)
    monkeypatch.setattr(sampling, "CHUNK_BATCHES", 3)  # chunks of 6 samples: the same noise stream, the same images
    np.testing.assert_array_equal(sampling.sample(sampler, config, labels=labels, batch_size=2, seed=4), whole)
    assert capsys.readouterr() == ("", "")  # quiet unless asked


def test_impute_shows_a_bar_of_batches_times_iterations(three_class_plain_vae_run, tmp_path, capsys):
    impute.main([three_class_plain_vae_run, "--in", masked(tmp_path / "in.npz"), "--out", str(tmp_path / "out.npz"),
                 "--iterations", "3"])
    out, err = capsys.readouterr()
    assert progress_lines(err, 3) and out.startswith("imputed ") and len(out.splitlines()) == 1
    models = runs.load_exported(three_class_plain_vae_run, ["encoder.keras", "decoder.keras"])
    x = np.zeros((10, 28, 28, 1), np.float32)
    posterior.impute(models["encoder.keras"], models["decoder.keras"], x, x > 0, iterations=2, batch_size=4, verbose=True)
    assert progress_lines(capsys.readouterr().err, 6)  # 3 batches x 2 iterations


@pytest.mark.slow  # a few-labels run, 8 s; the default run keeps the other commands' progress
def test_the_labelling_classifier_of_an_unlabeled_run_shows_a_line_per_epoch_on_stderr(tmp_path, capsys,
                                                                                       monkeypatch):
    monkeypatch.setattr(pseudo_labels, "EPOCH_STEPS", 2)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (20, 12, 12, 1), dtype=np.uint8), np.where(np.arange(20) < 9, np.arange(20) % 3, -1)
    labels = pseudo_labels.label_run(str(tmp_path), x, y, 3, steps=4)
    out, err = capsys.readouterr()
    assert (labels >= 0).all() and out == ""
    assert "training the classifier that labels 11 unlabelled images (4 steps)" in err
    assert len(progress_lines(err, 2)) == 2 and "Epoch 2/2" in err, err
