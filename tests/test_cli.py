"""`augment-tf`: one command for every tool (installed as a console script: test_package.py), and its `pictures`
of a run."""

import os
import sys

import numpy as np
import pytest
from PIL import Image

from augment_tf import cli, figures, pictures, posterior, train_vae
from augment_tf.errors import AugmentError
from tests.conftest import TINY


def test_help_lists_every_command_with_one_line(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    listing = capsys.readouterr().out
    for name, (_, text) in cli.COMMANDS.items():
        assert f"  {name:<10} {text}\n" in listing


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_each_command_has_its_own_help_named_after_it(name, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["augment-tf"])
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: augment-tf {name} ")


def test_an_unknown_command_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["trian-gan"])
    assert done.value.code == 2 and "invalid choice: 'trian-gan'" in capsys.readouterr().err


def test_pictures_of_a_gan_run_animate_every_epoch_and_show_each_class(gan_run, tmp_path):
    pictures.main([str(gan_run), "--out", str(tmp_path / "pictures"), "--scale", "1"])
    assert sorted(os.listdir(tmp_path / "pictures")) == ["progress.gif", "samples.png"]
    with Image.open(tmp_path / "pictures" / "progress.gif") as gif:
        assert gif.n_frames == 3
        first = np.asarray(gif.convert("L"))
        gif.seek(2)
        assert not np.array_equal(first, np.asarray(gif.convert("L")))  # the epochs differ
    grid = np.asarray(Image.open(tmp_path / "pictures" / "samples.png").convert("L"))
    assert grid.shape == (10 * 30 + 2, 10 * 30 + 2)  # ten rows (classes) of ten 28-pixel samples, 2-pixel gaps


def test_pictures_of_a_vae_run_add_reconstructions_and_repairs(tmp_path, monkeypatch):
    real_impute = posterior.impute  # the chain's length does not change the picture's layout: 5 iterations, not 100
    monkeypatch.setattr(posterior, "impute", lambda *args, **kwargs: real_impute(*args, **kwargs, iterations=5))
    rng = np.random.default_rng(0)
    x = np.zeros((40, 28, 28), np.uint8)
    for i in range(40):  # a bright bar per class: something a VAE can learn in a few steps
        x[i, 4:24, 2 + 2 * (i % 10) : 4 + 2 * (i % 10)] = 255
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for split in ("train", "test"):
        np.savez(data_dir / f"{split}.npz", x=np.clip(x + rng.integers(0, 20, x.shape), 0, 255).astype(np.uint8),
                 y=np.arange(40) % 10)
    run = tmp_path / "vae"
    train_vae.main(["--conditional", "--data-dir", str(data_dir), "--epochs", "2", *TINY, "--out", str(run)])
    out = tmp_path / "pictures"
    pictures.main([str(run), "--out", str(out), "--scale", "2"])
    assert sorted(os.listdir(out)) == ["imputation.png", "progress.gif", "reconstructions.png", "samples.png"]
    repaired = np.asarray(Image.open(out / "imputation.png").convert("L"))[::2, ::2]  # undo the 2x scale
    assert repaired.shape == (3 * 30 + 2, 10 * 30 + 2)
    masked_row, repaired_row, original_row = (repaired[2 + 30 * r : 30 + 30 * r] for r in range(3))
    assert np.all(masked_row[14:28, 2:30] == figures.MISSING_GRAY)  # the first image's bottom half is missing
    np.testing.assert_array_equal(repaired_row[:14], original_row[:14])  # observed pixels are kept
    reconstructions = np.asarray(Image.open(out / "reconstructions.png").convert("L"))
    assert reconstructions.shape == (2 * (2 * 30 + 2), 2 * (20 * 30 + 2))  # 20 test images above their reconstructions


def test_pictures_of_a_run_without_epochs_is_one_clear_error(tmp_path, gan_run):
    with pytest.raises(AugmentError, match="no such run directory"):
        pictures.main([str(tmp_path / "missing"), "--out", str(tmp_path / "p")])
    (tmp_path / "p").write_text("a file")
    with pytest.raises(AugmentError, match="is a file"):
        pictures.main([str(gan_run), "--out", str(tmp_path / "p")])
