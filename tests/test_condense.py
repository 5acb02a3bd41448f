"""Tests for augment_tf.condense: herding, code refinement by distribution matching, and the command."""

import json

import numpy as np
import pytest
import tensorflow as tf

from augment_tf import condensation, condense, shard_format
from augment_tf.models import networks
from augment_tf.errors import AugmentError, DataError

FAST = ["--steps", "3", "--real-per-class", "8"]


def test_herding_matches_the_target_mean_better_than_random_subsets():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 6)) + rng.normal(size=6)
    target = features.mean(axis=0)
    chosen = condensation.herd(features, target, 10)
    assert len(set(chosen)) == 10
    distance = lambda rows: np.sum((features[rows].mean(axis=0) - target) ** 2)  # noqa: E731
    best_random = min(distance(rng.choice(300, 10, replace=False)) for _ in range(200))
    assert distance(chosen) < best_random / 5


def test_refining_codes_moves_each_class_towards_its_real_images():
    rng = np.random.default_rng(1)
    weights = tf.constant(rng.normal(size=(3, 256)).astype(np.float32))
    offsets = tf.constant(rng.normal(size=(2, 256)).astype(np.float32) * 2)

    def sampler(inputs, training=False):  # a conditional "generator" of 16x16 images in [-1, 1]
        z, labels = inputs
        return tf.reshape(tf.tanh(tf.matmul(z, weights) + tf.gather(offsets, labels)), [-1, 16, 16, 1])

    real_labels = np.repeat([0, 1], 50)
    real = (sampler([rng.normal(size=(100, 3)).astype(np.float32) + 1.5, real_labels]).numpy() + 1) / 2
    real = np.rint(real * 255).astype(np.uint8).reshape(2, 50, 16, 16, 1)
    net = networks.convnet_features((16, 16, 1), 8)
    labels = np.repeat([0, 1], 3)
    start = rng.normal(size=(6, 3)).astype(np.float32)
    codes, losses = condensation.refine(sampler, (-1.0, 1.0), start, labels, net, real, steps=300, real_batch=16)
    assert codes.shape == start.shape and np.mean(losses[-30:]) < np.mean(losses[:30]) / 3
    pixel_gap = lambda z: sum(np.sum((sampler([z, labels]).numpy()[labels == c].mean(0)  # noqa: E731
                                      - (real[c] / 127.5 - 1).mean(0)) ** 2) for c in (0, 1))
    assert pixel_gap(codes) < pixel_gap(start) / 2  # the images themselves moved towards each class's real ones
    again, _ = condensation.refine(sampler, (-1.0, 1.0), start, labels, net, real, steps=300, real_batch=16)
    np.testing.assert_array_equal(again, codes)  # each step's network and real batch come from the seed


def test_random_weights_are_a_fresh_draw_per_seed_in_pytorchs_range():
    net = networks.convnet_features((16, 16, 1), 8)
    first, same, other = (condensation.random_weights(net, tf.constant(s)) for s in ([0, 1], [0, 1], [0, 2]))
    kernel = first[0].numpy()
    assert kernel.shape == (3, 3, 1, 8) and np.abs(kernel).max() <= 1 / 3 and kernel.std() > 0.1
    assert all(np.array_equal(a, b) for a, b in zip(first, same))
    assert not np.array_equal(first[0], other[0])
    x = np.random.default_rng(0).random((4, 16, 16, 1)).astype(np.float32)
    assert condensation.embed(net, first, x).shape == (4, 2 * 2 * 8)


def test_first_of_each_class_stops_reading_once_every_class_is_full():
    def chunks():
        for start in range(0, 40, 10):
            yield np.arange(start, start + 10).reshape(10, 1, 1), np.arange(start, start + 10) % 4
        raise AssertionError("read past what was needed")

    real, counts = condensation.first_of_each_class(chunks(), 5, 4)
    assert real.shape == (4, 5, 1, 1, 1) and counts.tolist() == [5, 5, 5, 5]
    assert real[1, :, 0, 0, 0].tolist() == [1, 5, 9, 13, 17]  # the first five of class 1, in stored order
    few, counts = condensation.first_of_each_class([(np.arange(6).reshape(6, 1, 1), np.array([0, 0, 0, 1, 2, 2]))], 4, 3)
    assert counts.tolist() == [3, 1, 2] and few[1, :, 0, 0, 0].tolist() == [3, 3, 3, 3]  # a short class repeats
    with pytest.raises(DataError, match="no images of class 2"):
        condensation.first_of_each_class([(np.zeros((4, 1, 1)), np.array([0, 1, 0, 1]))], 2, 3)


@pytest.fixture
def runs(three_class_gan_run, three_class_vae_run, three_class_plain_vae_run):
    """(conditional GAN run, conditional VAE run, unconditional VAE run) on 3 classes of random 28x28 images."""
    return three_class_gan_run, three_class_vae_run, three_class_plain_vae_run


@pytest.mark.parametrize("kind", [0, pytest.param(1, marks=pytest.mark.slow)], ids=["gan", "vae"])  # the VAE: also
# in the default run through test_condense_matches_a_streamed_shard_folder
def test_condense_writes_k_per_class_a_grid_and_a_summary_the_same_for_a_seed(runs, kind, tmp_path, capsys):
    out = tmp_path / "small.npz"
    assert condense.main([runs[kind], "--per-class", "2", "--out", str(out), *FAST]) == 0
    small = np.load(out)
    assert small["x"].dtype == np.uint8 and small["x"].shape == (6, 28, 28)
    assert small["y"].tolist() == [0, 0, 1, 1, 2, 2]
    summary = json.loads((tmp_path / "small.json").read_text())
    assert summary["per_class"] == 2 and summary["real_images_per_class"] == [8, 8, 8] and summary["steps"] == 3
    assert (tmp_path / "small.png").stat().st_size > 100
    assert "wrote 6 images (2 per class)" in capsys.readouterr().out
    if kind == 0:  # the same seed, the same images: once, on the GAN (the seeding is the command's, not the model's)
        condense.main([runs[kind], "--per-class", "2", "--out", str(tmp_path / "again.npz"), *FAST])
        np.testing.assert_array_equal(np.load(tmp_path / "again.npz")["x"], small["x"])


def test_condense_matches_a_streamed_shard_folder(runs, tmp_path):
    """--real as a sharded folder, read as a stream, makes the very images and labels the same data as an .npz does."""
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, 256, (60, 28, 28), np.uint8), np.arange(60) % 3
    shard_format.write_shards([(x, y)], tmp_path / "real", images_per_shard=10)
    np.savez(tmp_path / "real.npz", x=x, y=y)
    for real, out in (("real", "s.npz"), ("real.npz", "from_npz.npz")):  # herding alone reads the real images
        condense.main([runs[1], "--per-class", "1", "--out", str(tmp_path / out), "--real", str(tmp_path / real),
                       "--real-per-class", "8", "--steps", "0"])
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["real"] == str(tmp_path / "real") and summary["real_images_per_class"] == [8, 8, 8]
    streamed, from_npz = np.load(tmp_path / "s.npz"), np.load(tmp_path / "from_npz.npz")
    assert streamed["x"].shape == (3, 28, 28) and streamed["y"].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(streamed["x"], from_npz["x"])
    np.testing.assert_array_equal(streamed["y"], from_npz["y"])


def test_condense_refuses_what_it_cannot_do(runs, tmp_path):
    out = str(tmp_path / "o.npz")
    with pytest.raises(AugmentError, match="unconditional: train one with --conditional"):
        condense.main([runs[2], "--per-class", "1", "--out", out, *FAST])
    with pytest.raises(AugmentError, match="--per-class takes"):
        condense.main([runs[0], "--per-class", "0", "--out", out])
    np.savez(tmp_path / "small.npz", x=np.zeros((6, 16, 16), np.uint8), y=np.arange(6) % 3)
    with pytest.raises(DataError, match=r"images are \(16, 16, 1\) but the run makes \(28, 28, 1\)"):
        condense.main([runs[0], "--per-class", "1", "--out", out, "--real", str(tmp_path / "small.npz")])
    np.savez(tmp_path / "two.npz", x=np.zeros((6, 28, 28), np.uint8), y=np.arange(6) % 2)
    with pytest.raises(DataError, match="no images of class 2"):
        condense.main([runs[0], "--per-class", "1", "--out", out, "--real", str(tmp_path / "two.npz"), *FAST])
