"""What the models share: a base that trains the same under any tf.distribute strategy (`ReplicatedModel`, the
semi-supervised classifier's too), optimizer and precision plumbing, weight transfer for fine-tuning, and the
generative models' interface (`GenerativeModel`).

Training uses a generative model through `num_classes`, `latent_dim`, `value_range`, `latent`, `generate`,
`reconstruct` (VAEs) and `export_models`; what uses a finished run uses only the standalone networks it exports.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from augment_tf.models import random_views, replicas


def resolve_jit_compile(jit_compile):
    """'auto' -> XLA on GPU only: on CPU it measured slower than plain tf.function (benchmarks/README.md)."""
    if jit_compile == "auto":
        return bool(tf.config.list_physical_devices("GPU"))
    return bool(jit_compile)


def update_moving_average(averages, currents, decay, step):
    """averages <- d * averages + (1 - d) * currents, with d = min(decay, (1 + step) / (10 + step)): a warm-up that
    keeps the average from lagging far behind early in training."""
    step = ops.cast(step, "float32")
    d = ops.minimum(decay, (1.0 + step) / (10.0 + step))
    for average, current in zip(averages, currents):
        average.assign(d * average + (1.0 - d) * ops.cast(current, average.dtype))


def loss_scaled(optimizer):
    """`optimizer`, in a LossScaleOptimizer under the mixed_float16 policy (float16 gradients underflow without)."""
    if keras.config.dtype_policy().name != "mixed_float16" or isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)


def apply_gradients(optimizer, grads, variables):
    """`optimizer.apply_gradients`; a loss-scaled step that overflowed on any replica is skipped on all of them."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        grads = replicas.skip_everywhere_if_any_overflows(grads)
    optimizer.apply_gradients(zip(grads, variables))


def unpack_batch(data):
    """(images, labels) or images alone -> (images, labels or None)."""
    if isinstance(data, (tuple, list)):
        return data[0], (data[1] if len(data) > 1 else None)
    return data, None


class ReplicatedModel(keras.Model):
    """A model that trains the same on one device and under any tf.distribute strategy. Its networks are built in
    `__init__` and its optimizers in `compile` (their variables must exist before `fit` traces the step in the
    replicas); its `train_step` returns `self._logs()`."""

    def _logs(self):
        """{name: result} of the metrics. Under MultiWorkerMirroredStrategy each has shape (1,): Keras reduces a
        multi-worker run's logs along axis 0, which a scalar lacks (tensorflow/tensorflow#72388)."""
        logs = {m.name: m.result() for m in self.metrics}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Nothing to build. Keras would peek a batch here under tf.distribute, and that fails on
        # MultiWorkerMirroredStrategy's per-replica batches ("Attempt to convert a value (PerReplica ...) to a
        # Tensor", keras-team/keras#20585); the peek also opened one more iterator over the data.
        return


def _network_layers(model):
    """The layers inside `model`'s networks (its keras.Model attributes, nested ones too), each once, in build order."""
    found, seen = [], set()

    def walk(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if isinstance(layer, keras.Model):
            for inner in layer.layers:
                walk(inner)
        elif layer.weights:
            found.append(layer)

    for network in model.layers:
        walk(network)
    return found


def transfer_weights(source, target):
    """Copies the network weights of `source` into `target`, a model of the same kind and sizes (fine-tuning).

    Classes are label indices: a class both know keeps the source's label embedding rows; a class only `target`
    has starts at the mean of the source's rows, a neutral point among the classes it learned. Optimizer state,
    noise state and settings such as the VAE's beta stay the target's."""
    for old, new in zip(_network_layers(source), _network_layers(target), strict=True):
        if type(old) is not type(new):
            raise ValueError(f"the networks differ: {type(old).__name__} where {type(new).__name__} was expected")
        for old_weight, new_weight in zip(old.weights, new.weights, strict=True):
            value = ops.convert_to_numpy(old_weight)
            more_classes = new_weight.shape[0] - value.shape[0]
            if isinstance(new, keras.layers.Embedding) and more_classes > 0 and new_weight.shape[1:] == value.shape[1:]:
                value = np.concatenate([value, np.repeat(value.mean(axis=0, keepdims=True), more_classes, axis=0)])
            if tuple(new_weight.shape) != value.shape:
                raise ValueError(f"{new.name}: weight {new_weight.name} is {tuple(new_weight.shape)} here but "
                                 f"{value.shape} in the source model")
            new_weight.assign(value)


class GenerativeModel(ReplicatedModel):
    """Base of the models: subclasses build their networks, a `seed_generator`, and define `sampler`."""

    num_classes = None

    def get_config(self):
        """The constructor arguments every model has (set by its `__init__`); subclasses add their own."""
        return {
            **super().get_config(),
            "image_shape": self.image_shape,
            "latent_dim": self.latent_dim,
            "width": self.width,
            "seed": self.seed,
            "augment": self.augment,
        }

    def _compile_with(self, optimizers, jit_compile="auto", **kwargs):
        """Compiles with named optimizers (attribute name -> optimizer), each built on its variables now: under
        tf.distribute they must exist before `fit` traces the step (Keras builds only `self.optimizer` itself).
        Under the mixed_float16 policy each is wrapped in a LossScaleOptimizer. jit_compile 'auto'|True|False."""
        super().compile(jit_compile=resolve_jit_compile(jit_compile), **kwargs)
        if "optimizer" not in optimizers:  # Keras' default `optimizer`, unused: built empty, or `fit` under a
            self.optimizer.build([])  # strategy would give it slots for every weight (and checkpoints with them)
        variables = self._optimized_variables()
        for name, optimizer in optimizers.items():
            setattr(self, name, loss_scaled(optimizer))
            getattr(self, name).build(variables[name])
        self._jit_setting = jit_compile

    def _optimized_variables(self):
        """Optimizer attribute name -> the variables it updates (builds its slots on load)."""
        raise NotImplementedError

    def get_compile_config(self):
        if not self.compiled:
            return {}
        optimizers = {name: keras.optimizers.serialize(getattr(self, name)) for name in self._optimized_variables()}
        return {**optimizers, "jit_compile": self._jit_setting}

    def compile_from_config(self, config):
        """Recompiles after `load_model` and builds the optimizers so their saved state can load."""
        self.compile(
            **{name: keras.optimizers.deserialize(config[name]) for name in self._optimized_variables()},
            jit_compile=config.get("jit_compile", "auto"),
        )

    def save_own_variables(self, store):
        """Also saves the noise RNG state, so a resumed run draws the same noise as an uninterrupted one."""
        super().save_own_variables(store)
        store["seed_generator_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        self.seed_generator.state.assign(store["seed_generator_state"])
        super().load_own_variables({k: store[k] for k in store.keys() if k != "seed_generator_state"})

    def _noise(self, batch):
        """Standard-normal latent noise for a training batch: this replica's rows of the global batch's draw."""
        return replicas.rows(lambda shape: keras.random.normal(shape, seed=self.seed_generator), (batch, self.latent_dim))

    def _view(self, images):
        """What the networks train on: the images, or with `augment` a random shift/rotation/zoom of each."""
        if not self.augment:
            return images
        return random_views.random_affine(images, self.seed_generator, fill_value=self.value_range[0])

    def _conditioning(self, labels):
        """Extra network inputs: none for unconditional models."""
        return []

    @staticmethod
    def _inputs(first, cond):
        """A network's inputs: the tensor alone, or [tensor, labels] for conditional networks."""
        return [first, *cond] if cond else first

    def _predict(self, network, first, labels=None, batch_size=500):
        """Runs `network` on a numpy batch (plus checked labels if conditional); float32 numpy output, whatever
        precision the network computes in."""
        cond = [] if self.num_classes is None else [self._check_labels(labels, len(first))]
        outputs = network.predict(self._inputs(np.asarray(first, np.float32), cond), batch_size=batch_size, verbose=0)
        return keras.tree.map_structure(lambda a: np.asarray(a, np.float32), outputs)

    def call(self, inputs, training=False):
        """Maps latent vectors (and labels, if conditional) to images with the sampling network."""
        return self.sampler(inputs, training=training)

    def latent(self, n, seed=None):
        """`n` standard-normal latent vectors; a fixed `seed` gives the same vectors every time."""
        return keras.random.normal((n, self.latent_dim), seed=seed)

    def generate(self, z, labels=None, batch_size=500):
        """Images in `value_range` as a numpy array (N, H, W, C) for the given latent vectors (and labels)."""
        return self._predict(self.sampler, z, labels, batch_size)


class ClassConditional:
    """Mixin for the class-conditional models: networks take integer labels; `fit` on (image, label)."""

    def __init__(self, num_classes=10, **kwargs):
        self.num_classes = int(num_classes)
        super().__init__(**kwargs)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}

    def _conditioning(self, labels):
        if labels is None:
            raise ValueError(f"{type(self).__name__} trains on (image, label) batches; the dataset yielded images only")
        return [ops.cast(labels, "int32")]

    def _check_labels(self, labels, n):
        if labels is None:
            raise ValueError(f"{type(self).__name__} needs labels (one class index per image or latent vector)")
        labels = np.asarray(labels, np.int32).reshape(-1)
        if len(labels) != n or labels.min(initial=0) < 0 or labels.max(initial=0) >= self.num_classes:
            raise ValueError(f"labels must be {n} class indices in [0, {self.num_classes}), got shape {labels.shape}")
        return labels
