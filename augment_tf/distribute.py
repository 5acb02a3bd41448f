"""Where a run trains (one device, every local GPU or the CPU split in replicas, several machines) and in what
precision: the `tf.distribute` strategy and Keras dtype policy behind --strategy, --replicas and --precision.

On several machines every worker runs the whole script (its collectives need all of them), but only the chief
writes the run directory; the others write to a scratch copy (`writable_run_dir`).
"""

import contextlib
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from augment_tf.errors import AugmentError


def check_devices(args):
    """One-line errors for settings this machine's devices cannot run (the flags themselves: `training_options`)."""
    if args.replicas is not None and tf.config.list_physical_devices("GPU"):
        raise AugmentError("--replicas splits a CPU into replicas; this machine has GPUs: --strategy mirrored "
                           "uses every GPU, drop --replicas (CUDA_VISIBLE_DEVICES picks them)")
    if args.precision == "mixed_float16" and not tf.config.list_physical_devices("GPU"):
        raise AugmentError("--precision mixed_float16 needs a GPU (on a CPU it trains slower than float32, "
                           "benchmarks/README.md); use mixed_bfloat16 or float32")


def make_strategy(name, replicas=None):
    """The tf.distribute strategy for --strategy `name` (call before TensorFlow runs anything, for --replicas)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = None  # every GPU
    if not tf.config.list_physical_devices("GPU"):
        devices = [d.name for d in split_cpu(replicas or 1)]
    # Reductions through one device, not collectives: the replicas' collectives (SyncBatchNorm, minibatch-stddev
    # and their gradients) were created in different orders and mismatched ("Shape mismatch in the collective
    # instance"); this cross-device op pairs them through merge_call, in the order every replica reaches them.
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())


def split_cpu(n):
    """`n` logical CPU devices, splitting the CPU if TensorFlow has not started yet."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        if len(tf.config.get_logical_device_configuration(cpu) or [None]) < n:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:  # TensorFlow already started with its devices
        pass
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < n:
        raise AugmentError(f"--replicas {n}: TensorFlow already started with {len(devices)} CPU device(s); "
                           "split the CPU before anything else runs (a fresh process)")
    return devices[:n]


def check_batch(batch_size, strategy):
    """The global batch must split evenly over the replicas."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise AugmentError(f"the batch of {batch_size} does not split evenly over {replicas} replicas: pass a "
                           f"--batch-size that is a multiple of {replicas}")


def input_workers(strategy):
    """How many processes feed `strategy` input: the workers (and chief) of a multi-worker cluster, else one."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec()
    return sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs)


def per_worker_dataset(strategy, make_dataset, global_batch):
    """A distributed dataset for which each worker builds its own pipeline: `make_dataset(batch, (index, count))`
    yields that worker's share of every global batch from its own files, so no worker reads them all."""
    def worker_dataset(context):
        count = context.num_input_pipelines
        per_worker, per_replica = global_batch // count, context.get_per_replica_batch_size(global_batch)
        dataset = make_dataset(per_worker, (context.input_pipeline_id, count))
        return dataset if per_replica == per_worker else dataset.rebatch(per_replica)  # several replicas a worker

    return strategy.distribute_datasets_from_function(worker_dataset)


@contextlib.contextmanager
def writable_run_dir(run_dir, strategy):
    """The folder this process writes the run to: `run_dir` on the chief (and with one process); on another worker
    a temporary copy of what the chief has written so far (a resumed run's checkpoint), removed at the end."""
    if strategy.extended.should_checkpoint:
        yield run_dir
        return
    scratch = tempfile.mkdtemp(prefix="augment_tf_worker_")
    try:
        if os.path.isdir(run_dir):
            shutil.copytree(run_dir, scratch, dirs_exist_ok=True, ignore=shutil.ignore_patterns("logs", "samples"))
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def set_precision(precision):
    """Sets Keras' global dtype policy: the layers built afterwards compute in it (variables stay float32)."""
    keras.config.set_dtype_policy(precision or "float32")
