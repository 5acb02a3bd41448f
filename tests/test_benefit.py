"""augment's estimate of whether synthetic samples help (benefit.py), on tiny data a small CNN learns at once."""

import json

import numpy as np
import pytest

from augment_tf import augment, benefit
from augment_tf.errors import AugmentError
from tests.conftest import progress_lines

CLASSES = 3
SMALL = 12  # pixels a side of the estimate's own tests: the reference CNN's least is 10


def stripes(per_class, seed, labels_shift=0, size=28):
    """`size`-pixel square images of class c: a bright band across the c-th third of the rows, over noise; labelled
    c + shift (mod 3). The estimate's own tests take 12 pixels (its CNNs train faster), augment's the run's 28."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(CLASSES), per_class)
    x = rng.integers(0, 60, (len(y), size, size, 1)).astype(np.uint8)
    band = size // CLASSES
    for i, c in enumerate(y):
        x[i, band * c:band * (c + 1)] = 255
    return x, (y + labels_shift) % CLASSES


def test_folds_deal_every_class_evenly_and_repeat_with_the_seed():
    y = np.repeat(np.arange(4), [9, 7, 3, 1])
    folds = benefit.stratified_folds(y, 3, np.random.default_rng(0))
    for c in range(4):
        counts = np.bincount(folds[y == c], minlength=3)
        assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(folds, benefit.stratified_folds(y, 3, np.random.default_rng(0)))


def test_mislabelled_samples_are_called_harmful_and_true_ones_are_not():
    x, y = stripes(6, seed=0, size=SMALL)
    wrong = benefit.estimate(x, y, *stripes(40, seed=1, labels_shift=1, size=SMALL), CLASSES, folds=2, steps=60)
    assert wrong["verdict"] == "hurts" and wrong["gain"] < -0.3 and wrong["folds"] == 2
    right = benefit.estimate(x, y, *stripes(40, seed=1, size=SMALL), CLASSES, folds=2, steps=60)
    assert right["verdict"] != "hurts" and right["with_synthetic"] > 0.9
    assert "hurt" in benefit.describe(wrong) and f"{wrong['gain'] * 100:+.1f} points" in benefit.describe(wrong)


def test_nearest_real_finds_the_image_each_sample_copies_within_its_class():
    x, y = stripes(5, seed=0)
    copies = np.array([3, 3, 14, 7, 0])
    noisy = np.clip(x[copies].astype(int) + np.random.default_rng(1).integers(-4, 5, x[copies].shape), 0, 255)
    nearest = benefit.nearest_real(x, y, noisy, y[copies], chunk=2)
    np.testing.assert_array_equal(nearest, copies)
    assert (benefit.nearest_real(x[y != 2], y[y != 2], noisy, y[copies]) == -1).sum() == 1  # class 2 has no real


def copying_generator(rng):
    """(x, y) noise images with random labels, and (x_syn, y_syn) four noisy copies of each: what a generator that
    memorised its training images would write."""
    x = rng.integers(0, 256, (36, 28, 28, 1)).astype(np.uint8)
    y = rng.permutation(np.repeat(np.arange(CLASSES), 12))
    copies = np.repeat(np.arange(36), 4)
    x_syn = np.clip(x[copies].astype(int) + rng.integers(-5, 6, x[copies].shape), 0, 255).astype(np.uint8)
    return x, y, x_syn, y[copies]


@pytest.mark.slow  # 8 to 12 small CNNs; the default run keeps the verdict's and augment's own estimate tests
def test_dropping_held_out_copies_stops_a_memorising_generator_scoring_on_its_training_images():
    """Noise images with random labels: nothing to learn, so the only way to score on a held-out fold is to have
    trained on copies of it. A 'generator' that copies every real image then looks like a large gain; dropping each
    fold's held-out copies removes it."""
    rng = np.random.default_rng(0)
    x, y, x_syn, y_syn = copying_generator(rng)
    leaky = benefit.estimate(x, y, x_syn, y_syn, CLASSES, folds=2, steps=40)
    assert leaky["with_synthetic"] > 0.9 and leaky["verdict"] == "helps"
    guarded = benefit.estimate(x, y, x_syn, y_syn, CLASSES, folds=2, steps=40, drop_held_out_copies=True)
    assert guarded["with_synthetic"] < 0.7 and guarded["gain"] < leaky["gain"] - 0.3 and guarded["drop_held_out_copies"]


@pytest.mark.slow  # 8 to 12 small CNNs; the default run keeps the verdict's and augment's own estimate tests
def test_images_the_generator_never_saw_expose_a_memorising_generator():
    """The same copying 'generator' as above, scored on fresh noise images it never saw: no gain left. True samples
    of a learnable task still score on held-out images."""
    rng = np.random.default_rng(0)
    x, y, x_syn, y_syn = copying_generator(rng)
    unseen = rng.integers(0, 256, (30, 28, 28, 1)).astype(np.uint8), rng.integers(0, CLASSES, 30)
    copied = benefit.estimate(x, y, x_syn, y_syn, CLASSES, folds=2, steps=40, held_out=unseen)
    assert copied["with_synthetic"] < 0.7 and copied["verdict"] != "helps" and copied["held_out_images"] == 30
    assert copied["folds"] == 2 and copied["real_images"] == 36  # `folds` seeds, each on all the real images

    x, y = stripes(6, seed=0, size=SMALL)
    right = benefit.estimate(x, y, *stripes(40, seed=1, size=SMALL), CLASSES, folds=2, steps=60,
                             held_out=stripes(5, seed=3, size=SMALL))
    assert right["with_synthetic"] > 0.9 and right["verdict"] != "hurts"
    assert "scored on 15 held-out images" in benefit.describe(right) and "every seed" in benefit.describe(right)
    with pytest.raises(ValueError, match="held_out"):
        benefit.estimate(x, y, x, y, CLASSES, held_out=(x, y), drop_held_out_copies=True)


def test_a_large_real_set_is_estimated_on_a_draw_with_the_files_proportion():
    x, y = stripes(40, seed=0, size=SMALL)
    synthetic = stripes(20, seed=1, size=SMALL)
    result = benefit.estimate(x, y, *synthetic, CLASSES, folds=2, steps=5, max_real=60)
    assert result["real_images"] == 60 and result["synthetic_images"] == 30  # 120 + 60 halved
    assert result == benefit.estimate(x, y, *synthetic, CLASSES, folds=2, steps=5, max_real=60)  # same seed
    assert benefit.estimate(x[:1], y[:1], x, y, CLASSES, steps=5) is None  # nothing to hold out


@pytest.fixture
def real_npz(tmp_path):
    x, y = stripes(4, seed=2)
    np.savez(tmp_path / "real.npz", x=x[..., 0], y=y)
    return str(tmp_path / "real.npz")


def test_augment_prints_and_records_the_estimate_and_warns_when_it_would_hurt(real_npz, three_class_gan_run, tmp_path,
                                                                               capsys, monkeypatch):
    run = three_class_gan_run  # a tiny 3-class run
    augment.main([str(run), "--out", str(tmp_path / "a.npz"), "--real", real_npz, "--synthetic-per-class", "5"])
    estimate = json.loads((tmp_path / "a.json").read_text())["estimate"]
    assert estimate["folds"] == 3 and estimate["synthetic_images"] == 15 and estimate["steps"] == benefit.STEPS
    assert estimate["drop_held_out_copies"] and estimate["held_out_images"] is None  # chosen on validation
    out, err = capsys.readouterr()
    assert "estimate: a small CNN scores" in err and "can over-state the gain (--held-out" in err
    assert "estimate: CNN 1 of 6 (fold 1, real images only)" in err  # each CNN named, its steps shown on stderr
    assert "estimate: CNN 6 of 6 (fold 3, with the synthetic samples)" in err
    assert len(progress_lines(err, benefit.STEPS)) == 6, err
    assert out.startswith("wrote ") and len(out.splitlines()) == 1

    monkeypatch.setattr(benefit, "FOLDS", 1)  # on --held-out images: one seed's two CNNs are enough here

    x, y = stripes(3, seed=4)
    np.savez(tmp_path / "held.npz", x=x[..., 0], y=y)
    real = np.load(real_npz)
    np.savez(tmp_path / "overlap.npz", x=np.concatenate([x[..., 0], real["x"][:2]]), y=np.concatenate([y, real["y"][:2]]))
    augment.main([str(run), "--out", str(tmp_path / "h.npz"), "--real", real_npz, "--synthetic-per-class", "5",
                  "--held-out", str(tmp_path / "overlap.npz")])
    summary = json.loads((tmp_path / "h.json").read_text())
    assert not summary["estimate"]["drop_held_out_copies"] and summary["estimate"]["folds"] == 1
    assert summary["estimate"]["held_out_images"] == 11 and summary["held_out_data"] == str(tmp_path / "overlap.npz")
    err = capsys.readouterr().err
    assert "scored on 11 --held-out images" in err and "2 of the 11 --held-out images are also among" in err
    np.savez(tmp_path / "unlabelled.npz", x=x[..., 0], y=np.full(len(y), -1))
    with pytest.raises(AugmentError, match="no labelled images"):
        augment.main([str(run), "--out", str(tmp_path / "u.npz"), "--real", real_npz, "--synthetic-per-class", "5",
                      "--held-out", str(tmp_path / "unlabelled.npz")])

    monkeypatch.setattr(benefit, "estimate", lambda *a, **k: {**estimate, "verdict": "hurts", "gain": -0.05})
    augment.main([str(run), "--out", str(tmp_path / "b.npz"), "--real", real_npz, "--synthetic-per-class", "5"])
    assert "warning: estimate:" in capsys.readouterr().err
    augment.main([str(run), "--out", str(tmp_path / "c.npz"), "--real", real_npz, "--synthetic-per-class", "5",
                  "--no-estimate"])
    assert json.loads((tmp_path / "c.json").read_text())["estimate"] is None
    assert "estimate" not in capsys.readouterr().err
