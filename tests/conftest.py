"""Shared test fixtures: tiny random data sets, the real MNIST slice, and isolation from the network and env."""

import os
import socket
from pathlib import Path

import numpy as np
import pytest

from augment_tf import benefit, data, distribute, reference

REPLICAS = 2  # the CPU split into this many logical devices, as TensorFlow's own tests do, before anything runs
distribute.split_cpu(REPLICAS)

ROOT = Path(__file__).parents[1]
MNIST_DIR = Path(os.environ.get(data.DATA_DIR_ENV) or ROOT.parent / "shared/data/mnist")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No network, no inherited data dir (tests name their data), a fresh classifier cache per test, and augment's
    estimate (six small CNNs) trained for a few steps each."""

    def no_network(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv(reference.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(benefit, "STEPS", 20)


def random_digits(folder, n, seed=0):
    """`folder/train.npz` with `n` random 28x28 'digits' and labels cycling 0..9; returns its path."""
    rng = np.random.default_rng(seed)
    path = Path(folder) / "train.npz"
    np.savez(path, x=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), y=np.arange(n) % 10)
    return str(path)


@pytest.fixture(scope="session")
def npz_data(tmp_path_factory):
    """64 random 'digits': enough to train a few steps fast."""
    return random_digits(tmp_path_factory.mktemp("data"), 64)


@pytest.fixture(scope="session")
def npz_100(tmp_path_factory):
    """100 random 'digits', 10 per class: the small subsets the defaults must train well on."""
    return random_digits(tmp_path_factory.mktemp("data100"), 100, seed=1)


@pytest.fixture(scope="session")
def mnist_path():
    """The real MNIST IDX folder; tests that need it skip where it is absent, and fail under CI, which has it."""
    if not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        message = f"real MNIST not found at {MNIST_DIR} (set {data.DATA_DIR_ENV})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return MNIST_DIR
