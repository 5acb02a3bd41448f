"""Training under tf.distribute: 2 replicas on the CPU split in two (conftest) make the update one device makes."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from augment_tf import distribute, pseudo_labels, runs, train_gan
from augment_tf.models import GAN, VAE, ConditionalGAN, ConditionalVAE, SemiSupervisedClassifier, replicas
from benchmarks.distributed import free_ports
from tests import conftest
from tests.conftest import REPLICAS, command_error

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = [GAN, ConditionalGAN, VAE, ConditionalVAE]


def mirrored():
    return distribute.make_strategy("mirrored", REPLICAS)


def trained(cls, strategy, x, y, steps=2, **options):
    """`cls` (tiny, augmenting, same initial weights and seed) after `steps` plain-SGD steps of batch 8 under
    `strategy`: SGD, because Adam's first step (about lr * sign(g)) hides a gradient off by a constant factor."""
    keras.utils.set_random_seed(3)
    with strategy.scope():
        extra = {"num_classes": 10} if cls in (ConditionalGAN, ConditionalVAE) else {}
        model = cls(width=8, latent_dim=4, seed=1, augment=True, **extra, **options)
        if issubclass(cls, GAN):
            model.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1))
        else:
            model.compile(optimizer=keras.optimizers.SGD(0.01))
    images = x * 2 - 1 if issubclass(cls, GAN) else x
    dataset = tf.data.Dataset.from_tensor_slices((images, y)).batch(8).repeat()
    history = model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return model, {k: v[-1] for k, v in history.history.items()}


# The unconditional GAN and the conditional VAE share their train_step with the two the default run keeps: slow
@pytest.mark.parametrize("cls", [cls if cls in (ConditionalGAN, VAE) else pytest.param(cls, marks=pytest.mark.slow)
                                 for cls in MODELS], ids=lambda c: c.__name__)
def test_two_replicas_make_the_same_update_as_one_device(cls):
    """Losses are shared out (Keras sums replicas' gradients), each replica draws its rows of the global noise
    and augmentation, BatchNorm and minibatch-stddev see the global batch: every weight, EMA and BatchNorm
    statistic included, ends as on one device, and the logged losses are the global batch's."""
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 28, 28, 1)).astype("float32"), rng.integers(0, 10, 16)
    one, one_logs = trained(cls, tf.distribute.OneDeviceStrategy("/cpu:0"), x, y)
    two, two_logs = trained(cls, mirrored(), x, y)
    assert two.distribute_strategy.num_replicas_in_sync == REPLICAS
    for a, b in zip(one.variables, two.variables, strict=True):
        np.testing.assert_allclose(np.asarray(b.numpy(), np.float64), np.asarray(a.numpy(), np.float64),
                                   rtol=1e-4, atol=1e-5, err_msg=a.path)
    for variable in two.variables:  # every replica holds the same copy, so whichever saves, the file is the same
        copies = two.distribute_strategy.experimental_local_results(variable.value)
        assert len(copies) == REPLICAS and all(np.array_equal(copies[0], c) for c in copies[1:]), variable.path
    assert one_logs.keys() == two_logs.keys()
    for name in one_logs:
        assert two_logs[name] == pytest.approx(one_logs[name], rel=1e-5), name


def trained_classifier(strategy, steps=2):
    """A tiny SemiSupervisedClassifier (same initial weights and seed) after `steps` plain-SGD steps under `strategy`
    on 8 labelled and 16 unlabelled random images, every unlabelled one confident (threshold 0): both losses train."""
    rng = np.random.default_rng(0)
    labelled = (rng.integers(0, 256, (8, 12, 12, 1)).astype("float32"), rng.integers(0, 3, 8))
    unlabelled = rng.integers(0, 256, (16, 12, 12, 1)).astype("float32")
    keras.utils.set_random_seed(3)
    with strategy.scope():
        model = SemiSupervisedClassifier((12, 12, 1), 3, threshold=0.0, seed=1, width=4)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    history = model.fit(tf.data.Dataset.from_tensors((labelled, unlabelled)).repeat(), epochs=1, steps_per_epoch=steps,
                        verbose=0)
    return model, {k: v[-1] for k, v in history.history.items()}


def test_the_labelling_classifier_makes_the_same_update_on_two_replicas_as_on_one_device():
    """Its losses are shared out, each replica takes its rows of the global views, erasures and dropout masks:
    the weights, their average and the logs end as on one device."""
    one, one_logs = trained_classifier(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two, two_logs = trained_classifier(mirrored())
    assert two.distribute_strategy.num_replicas_in_sync == REPLICAS
    assert int(two.optimizer.iterations.numpy()) == 2 and two_logs["confident"] == 1.0
    for a, b in zip(one.variables, two.variables, strict=True):
        np.testing.assert_allclose(np.asarray(b.numpy(), np.float64), np.asarray(a.numpy(), np.float64),
                                   rtol=1e-5, atol=1e-6, err_msg=a.path)  # seen: 6e-8
    for variable in two.network.variables + two.ema_network.variables:
        copies = two.distribute_strategy.experimental_local_results(variable.value)
        assert len(copies) == REPLICAS and all(np.array_equal(copies[0], c) for c in copies[1:]), variable.path
    assert one_logs.keys() == two_logs.keys()
    for name in one_logs:
        assert two_logs[name] == pytest.approx(one_logs[name], rel=1e-5), name


def test_adaptive_augmentation_moves_the_same_under_two_replicas(monkeypatch):
    """ADA's probability comes from the global batch, so two replicas move it (and train) as one device does."""
    monkeypatch.setattr("augment_tf.models.gan.ADA_IMAGES", 16)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 28, 28, 1)).astype("float32"), rng.integers(0, 10, 16)
    one, one_logs = trained(ConditionalGAN, tf.distribute.OneDeviceStrategy("/cpu:0"), x, y, steps=3,
                            adaptive_augment=True)
    two, two_logs = trained(ConditionalGAN, mirrored(), x, y, steps=3, adaptive_augment=True)
    assert float(one.augment_probability) > 0.0
    for a, b in zip(one.variables, two.variables, strict=True):
        np.testing.assert_allclose(np.asarray(b.numpy(), np.float64), np.asarray(a.numpy(), np.float64),
                                   rtol=1e-4, atol=1e-5, err_msg=a.path)
    assert two_logs["augment_p"] == pytest.approx(one_logs["augment_p"], rel=1e-5)


def test_a_missing_share_would_be_caught():
    """The comparison above fails when one replica's loss is not divided by the replica count."""
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 28, 28, 1)).astype("float32"), rng.integers(0, 10, 16)
    one, _ = trained(VAE, tf.distribute.OneDeviceStrategy("/cpu:0"), x, y)
    original = replicas.share
    replicas.share = lambda loss: loss
    try:
        two, _ = trained(VAE, mirrored(), x, y)
    finally:
        replicas.share = original
    assert max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(one.trainable_variables,
                                                                             two.trainable_variables)) > 1e-4


def test_each_replica_draws_its_own_rows_of_the_global_draw():
    strategy = mirrored()
    with strategy.scope():
        seeds = keras.random.SeedGenerator(5)
    draw = lambda shape: keras.random.normal(shape, seed=seeds)
    per_replica = strategy.run(tf.function(lambda: replicas.rows(draw, (3, 2))))
    halves = [t.numpy() for t in strategy.experimental_local_results(per_replica)]
    whole = keras.random.normal((6, 2), seed=keras.random.SeedGenerator(5)).numpy()
    assert not np.allclose(halves[0], halves[1])
    np.testing.assert_allclose(np.concatenate(halves), whole)


def overflow_on_replica_1():
    """Checked gradients of a step whose gradients overflow on replica 1 only: whether each replica's are finite."""
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    grads = [tf.where(tf.equal(replica, 1), np.inf, 1.0) * tf.ones(3), None]
    checked = replicas.skip_everywhere_if_any_overflows(grads)
    return tf.reduce_all(tf.math.is_finite(checked[0])), checked[1] is None


def test_a_step_that_overflows_on_one_replica_is_skipped_on_all():
    strategy = mirrored()
    finite, kept_none = strategy.run(tf.function(overflow_on_replica_1, autograph=False))
    assert [bool(t) for t in strategy.experimental_local_results(finite)] == [False, False]
    assert all(bool(t) for t in strategy.experimental_local_results(kept_none))


def test_mixed_float16_wraps_every_optimizer_and_mixed_bfloat16_exports_float32(tmp_path):
    try:
        keras.config.set_dtype_policy("mixed_float16")
        gan, vae = ConditionalGAN(num_classes=10, width=8, latent_dim=4), VAE(width=8, latent_dim=4)
        gan.compile(), vae.compile()
        for optimizer in (gan.d_optimizer, gan.g_optimizer, vae.optimizer):
            assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        keras.config.set_dtype_policy("mixed_bfloat16")
        gan = ConditionalGAN(num_classes=10, width=8, latent_dim=4)
        gan.compile()
        x = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32") * 2 - 1
        gan.fit(tf.data.Dataset.from_tensor_slices((x, np.arange(16) % 10)).batch(8), epochs=1, verbose=0)
        assert gan.compute_dtype == "bfloat16" and gan.generate(gan.latent(2, seed=0), [1, 2]).dtype == np.float32
        path = str(tmp_path / "generator.keras")
        gan.export_models()["generator.keras"].save(path)
    finally:
        keras.config.set_dtype_policy("float32")
    exported = keras.saving.load_model(path)
    assert {layer.dtype_policy.name for layer in exported.layers} == {"float32"}
    assert keras.ops.convert_to_numpy(exported([np.zeros((2, 4), "float32"), np.array([1, 2])])).dtype == np.float32


# The training scripts: subprocesses, so that --replicas splits the CPU before TensorFlow starts, as for a user.

TINY = ["--conditional", *conftest.TINY]


def cli(*args, env=None):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def weights(path):
    """The weights of a saved model, loaded on one device without a warning (every optimizer's state loads)."""
    import augment_tf.models  # noqa: F401  (registers the models for load_model)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return keras.saving.load_model(path).get_weights()


@pytest.mark.slow
def test_a_two_replica_run_trains_as_one_device_and_records_where_it_ran(npz_data, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for out, extra in ((one, []), (two, ["--strategy", "mirrored", "--replicas", "2"])):
        result = cli("train_gan.py", *TINY, "--augment", "--data-dir", npz_data, "--epochs", "2", "--out", str(out), *extra)
        assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((two / "config.json").read_text())
    assert (config["strategy"], config["replicas"], config["per_replica_batch"], config["precision"]) == \
        ("mirrored", 2, 8, "float32")
    for a, b in zip(weights(one / "checkpoint.keras"), weights(two / "checkpoint.keras"), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)  # Adam, 8 steps: float noise only


@pytest.mark.slow
def test_sigkilled_two_replica_run_resumes_on_two_replicas_then_on_one_device(npz_data, tmp_path):
    run = tmp_path / "run"
    two = ["--strategy", "mirrored", "--replicas", "2"]
    process = subprocess.Popen([sys.executable, "train_vae.py", *TINY, "--data-dir", npz_data, "--epochs", "400",
                                "--out", str(run), *two], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while runs.completed_epochs(run) < 2 and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = runs.completed_epochs(run)
    assert 2 <= done < 400
    resumed = cli("train_vae.py", "--out", str(run), "--resume", "--epochs", str(done + 2), *two)
    assert resumed.returncode == 0 and "resuming" in resumed.stderr, resumed.stderr[-2000:]
    assert runs.completed_epochs(run) == done + 2 and (run / "sampler.keras").exists()
    on_one = cli("train_vae.py", "--out", str(run), "--resume", "--epochs", str(done + 3))  # 2 replicas -> 1 device
    assert on_one.returncode == 0, on_one.stderr[-2000:]
    assert json.loads((run / "config.json").read_text())["replicas"] == 1


@pytest.mark.slow
def test_a_one_device_checkpoint_resumed_on_two_replicas_ends_as_an_uninterrupted_run(npz_data, tmp_path):
    single, straight = tmp_path / "single", tmp_path / "straight"
    first = cli("train_gan.py", *TINY, "--augment", "--data-dir", npz_data, "--epochs", "1", "--out", str(single))
    assert first.returncode == 0, first.stderr[-2000:]
    resumed = cli("train_gan.py", "--out", str(single), "--resume", "--epochs", "2", "--strategy", "mirrored",
                  "--replicas", "2")
    assert resumed.returncode == 0 and "resuming" in resumed.stderr, resumed.stderr[-2000:]
    assert runs.completed_epochs(single) == 2
    assert json.loads((single / "config.json").read_text())["replicas"] == 2
    train_gan.main([*TINY, "--augment", "--data-dir", npz_data, "--epochs", "2", "--out", str(straight)])  # 1 device
    for a, b in zip(weights(straight / "checkpoint.keras"), weights(single / "checkpoint.keras"), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=2e-6)  # float noise only (seen: 2.4e-7)


@pytest.mark.parametrize("args, env, message", [
    (["--strategy", "multi-worker"], {"TF_CONFIG": ""}, "needs TF_CONFIG"),
    (["--strategy", "multi-worker"], {"TF_CONFIG": "{not json"}, "TF_CONFIG is not valid"),
    (["--strategy", "multi-worker"], {"TF_CONFIG": '{"cluster": {"worker": ["localhost:1"]}, '
                                                   '"task": {"type": "worker", "index": 3}}'}, "not in cluster.worker"),
    (["--strategy", "mirrored", "--replicas", "2", "--batch-size", "15"], {}, "batch of 15 does not split evenly over 2"),
    (["--strategy", "mirrored", "--replicas", "0"], {}, "--replicas must be at least 1"),
    (["--replicas", "2"], {}, "--replicas goes with --strategy mirrored"),
    (["--precision", "mixed_float16"], {}, "mixed_float16 needs a GPU"),
])
def test_placement_errors_are_one_line_and_write_nothing(args, env, message, npz_data, tmp_path, monkeypatch,
                                                         capsys):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "run"
    code, _, err = command_error(train_gan.main, ["--conditional", "--data-dir", npz_data, "--steps", "2",
                                                  "--out", out, *args], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not out.exists()


def in_float32_after(main, argv):
    """`main(argv)`, then Keras' global dtype policy back to float32 (--precision sets it for the process)."""
    try:
        return main(argv)
    finally:
        keras.config.set_dtype_policy("float32")


def test_resume_keeps_the_runs_precision(npz_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert in_float32_after(train_gan.main, [*TINY, "--data-dir", npz_data, "--epochs", "1", "--precision",
                                             "mixed_bfloat16", "--out", str(run)]) == 0
    generator = keras.saving.load_model(run / "generator.keras")  # plain Keras, float32
    assert {layer.dtype_policy.name for layer in generator.layers} == {"float32"}
    refused = lambda argv: command_error(train_gan.main, argv, capsys)  # noqa: E731
    code, _, err = in_float32_after(refused, ["--out", run, "--resume", "--epochs", "2", "--precision", "float32"])
    assert code == 2 and "trains with --precision mixed_bfloat16" in err, err
    assert in_float32_after(train_gan.main, ["--out", str(run), "--resume", "--epochs", "2"]) == 0
    assert json.loads((run / "config.json").read_text())["precision"] == "mixed_bfloat16"


def start_workers(script, flags, scratch):
    """Two worker processes on localhost running `script` with --strategy multi-worker; temporary files in
    `scratch`, so that a test sees what the non-chief worker left there."""
    ports = free_ports(2)
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TMPDIR": str(scratch)}
        workers.append(subprocess.Popen([sys.executable, script, *flags, "--strategy", "multi-worker"], cwd=ROOT,
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return workers


def finish(workers):
    outputs = [worker.communicate(timeout=300) for worker in workers]
    return [worker.returncode for worker in workers], outputs


@pytest.mark.slow
def test_two_workers_train_as_one_process_and_only_the_chief_writes(npz_data, tmp_path):
    flags = [*TINY, "--augment", "--data-dir", npz_data, "--epochs", "2"]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    codes, outputs = finish(start_workers("train_gan.py", [*flags, "--out", str(tmp_path / "run")], scratch))
    assert codes == [0, 0], [err[-2000:] for _, err in outputs]
    assert sorted(os.listdir(tmp_path / "run")) == ["checkpoint.keras", "config.json", "generator.keras", "logs",
                                                    "samples", "state.json"]
    assert os.listdir(scratch) == []  # the other worker's scratch run directory is gone
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["strategy"], config["replicas"], config["per_replica_batch"]) == ("multi-worker", 2, 8)
    assert cli("train_gan.py", *flags, "--out", str(tmp_path / "one")).returncode == 0
    for a, b in zip(weights(tmp_path / "one" / "checkpoint.keras"), weights(tmp_path / "run" / "checkpoint.keras"),
                    strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_killed_worker_and_its_peer_resume_from_the_last_checkpoint(npz_data, tmp_path):
    run, scratch = tmp_path / "run", tmp_path / "tmp"
    scratch.mkdir()
    flags = [*TINY, "--data-dir", npz_data, "--out", str(run)]
    workers = start_workers("train_gan.py", [*flags, "--epochs", "400"], scratch)
    deadline = time.time() + 240
    while runs.completed_epochs(run) < 2 and time.time() < deadline and workers[1].poll() is None:
        time.sleep(0.2)
    workers[1].send_signal(signal.SIGKILL)  # the other worker now waits for it in a collective: stop it too
    workers[0].send_signal(signal.SIGKILL)
    finish(workers)
    done = runs.completed_epochs(run)
    assert 2 <= done < 400
    codes, outputs = finish(start_workers("train_gan.py", ["--out", str(run), "--resume", "--epochs", str(done + 2)],
                                          scratch))
    assert codes == [0, 0], [err[-2000:] for _, err in outputs]
    assert all(f"after epoch {done}" in err for _, err in outputs)
    assert runs.completed_epochs(run) == done + 2 and (run / "generator.keras").exists()


@pytest.mark.slow  # 15 s; the default run keeps loss scaling under mixed_float16 (test_loss_terms) on one device
def test_mixed_float16_scales_the_loss_on_two_replicas():
    """Under mixed_float16 the step scales the loss before differentiating (else the LossScaleOptimizer's unscaling
    would shrink every update by its scale, 2**15): one SGD step moves the weights as in float32, within float16's
    precision."""
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 28, 28, 1)).astype("float32"), rng.integers(0, 10, 16)
    reference, _ = trained(ConditionalGAN, mirrored(), x, y, steps=1)
    try:
        keras.config.set_dtype_policy("mixed_float16")
        half, _ = trained(ConditionalGAN, mirrored(), x, y, steps=1)
    finally:
        keras.config.set_dtype_policy("float32")
    assert isinstance(half.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert int(half.d_optimizer.iterations.numpy()) == int(half.g_optimizer.iterations.numpy()) == 1  # not skipped
    keras.utils.set_random_seed(3)
    start = ConditionalGAN(num_classes=10, width=8, latent_dim=4, seed=1, augment=True).discriminator.get_weights()
    moved = [np.abs(b - a).sum() for a, b in zip(start, reference.discriminator.get_weights())]
    moved_half = [np.abs(b - a).sum() for a, b in zip(start, half.discriminator.get_weights())]
    np.testing.assert_allclose(moved_half, moved, rtol=0.1)


@pytest.mark.slow  # bfloat16 on the CPU is emulated: half a minute; the default run keeps two-replica labelling
def test_unlabelled_images_on_two_replicas_in_bfloat16(npz_data, tmp_path, monkeypatch):
    """The labelling classifier trains under the strategy and precision too; what the run exports is float32.
    In-process (conftest split the CPU already), to look at the classifier that trained."""
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, x=np.random.default_rng(2).integers(0, 256, (96, 28, 28), dtype=np.uint8))
    run = tmp_path / "run"
    classifiers, original = [], pseudo_labels.train_on
    monkeypatch.setattr(pseudo_labels, "train_on",
                        lambda *args, **kwargs: classifiers.append(original(*args, **kwargs)) or classifiers[-1])
    try:
        train_gan.main([*TINY, "--data-dir", npz_data, "--unlabeled", str(unlabelled), "--classifier-steps", "4",
                        "--steps", "4", "--out", str(run), "--strategy", "mirrored", "--replicas", "2",
                        "--precision", "mixed_bfloat16"])
    finally:
        keras.config.set_dtype_policy("float32")
    [classifier] = classifiers
    assert isinstance(classifier.distribute_strategy, tf.distribute.MirroredStrategy)
    assert classifier.distribute_strategy.num_replicas_in_sync == REPLICAS
    assert int(classifier.optimizer.iterations.numpy()) == 4
    for variable in classifier.network.trainable_variables:  # mirrored, float32, and the same on both replicas
        copies = classifier.distribute_strategy.experimental_local_results(variable.value)
        assert len(copies) == REPLICAS and all(np.array_equal(copies[0], c) for c in copies[1:]), variable.path
        assert variable.dtype == "float32", variable.path
    assert {layer.dtype_policy.name for layer in classifier.network.layers if layer.weights} == {"mixed_bfloat16"}
    assert keras.ops.convert_to_numpy(classifier.network(np.zeros((2, 28, 28, 1), "float32"))).dtype == "bfloat16"
    for name in ("classifier.keras", "generator.keras"):
        model = keras.saving.load_model(run / name)
        assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}, name
    labels = np.load(run / "pseudo_labels.npz")
    assert labels["y"].shape == (160,) and labels["confidence"].dtype == np.float32
