"""What a `train_step` needs to make the same update on many replicas (tf.distribute) as on one device.

Keras sums the replicas' gradients, and every replica draws the same numbers from a shared SeedGenerator. So a
replica differentiates its `share` of the global loss, takes its own `rows` of draws made for the whole global
batch (each replica differs, and a run's randomness does not depend on the replica count), and logs `global_mean`s.
On one device each of these is the identity.
"""

import tensorflow as tf


def _replica_context():
    """The replica context when more than one replica trains in sync, else None."""
    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


def count():
    """Replicas training in sync (1 on one device)."""
    context = _replica_context()
    return context.num_replicas_in_sync if context else 1


def share(loss):
    """This replica's part of the global batch's mean loss (its own batch's mean / replicas): what to differentiate."""
    return loss / count()


def global_mean(value):
    """The mean of `value` over the replicas: with equal per-replica batches, the global batch's mean. Differentiable."""
    context = _replica_context()
    return context.all_reduce(tf.distribute.ReduceOp.MEAN, value) if context else value


def rows(draw, shape):
    """`draw(shape)` for this replica: the rows a draw for the whole global batch has at this replica's place in it.

    `shape[0]` is the replica's batch; `draw` takes a shape and returns random numbers (from a SeedGenerator)."""
    context = _replica_context()
    if context is None:
        return draw(shape)
    batch = shape[0]
    every_replica = draw((batch * context.num_replicas_in_sync, *shape[1:]))
    start = tf.cast(context.replica_id_in_sync_group, tf.int32) * batch
    return every_replica[start : start + batch]


def skip_everywhere_if_any_overflows(grads):
    """`grads`, made non-finite on every replica where they are on any, so that a loss-scaled step that overflowed
    somewhere is skipped everywhere (Keras' LossScaleOptimizer decides from the first replica's gradients only)."""
    context = _replica_context()
    if context is None:
        return grads
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None])
    overflowed = context.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32))
    poison = tf.where(overflowed > 0, float("nan"), 0.0)
    return [None if g is None else g + tf.cast(poison, g.dtype) for g in grads]
