"""How a run computes: its dtype policy (mixed precision), XLA, steps per execution.

The trainer knobs ``trainer.mixed_precision``, ``trainer.jit_compile`` and
``trainer.steps_per_execution`` change speed, not what a run studies. Here they become Keras
settings, and :func:`compile_classifier` says what happened, for the run's tags.

XLA and augmentation: Keras compiles a model's whole training step with XLA or none of it,
and turns XLA off (with only a warning) for a model holding a layer without an XLA kernel
(``RandomRotation``, ``RandomZoom``, ``RandomTranslation``... in TensorFlow 2.21). So with XLA
on, a model whose augmentation block is not empty trains with :func:`split_train_step`: the
block runs first, as ordinary TensorFlow ops (on the accelerator, in the same graph), and the
rest of the step (body forward, loss, gradients, optimizer, metrics) runs as one XLA-compiled
function.

On JAX (``trainer.keras_backend=jax``) a step that is not compiled runs op by op, several
times slower than compiled even on a CPU: ``auto`` compiles there too, the whole step,
augmentation included (``RandomAffine`` and Keras's flip, contrast... compile on JAX). A
Keras layer that says ``supports_jit=False`` (``RandomRotation``, ``RandomZoom``...) still
turns compilation off for the whole model, and the tag names it: use the fused ``affine``
technique instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import keras

MIXED_POLICY = "mixed_float16"
# trainer.mixed_precision -> Keras's dtype policy (true: float16, as before bfloat16 existed)
MIXED_POLICIES = {True: MIXED_POLICY, "float16": MIXED_POLICY, "bfloat16": "mixed_bfloat16"}


@contextlib.contextmanager
def precision(mixed: bool | str) -> Iterator[str]:
    """Build layers under Keras's ``mixed_float16`` policy (float16 compute, float32
    variables; ``mixed_bfloat16`` for ``bfloat16``) if ``mixed``; the global policy is
    restored on exit, since a sweep runs several jobs in one process.

    Layers keep the policy they were built with: build the model inside, train it anywhere.

    Args:
        mixed: ``trainer.mixed_precision``: True or ``float16``, ``bfloat16``; False keeps
            the current policy.

    Yields:
        The name of the policy in force.
    """
    before = keras.config.dtype_policy()
    if mixed:
        keras.config.set_dtype_policy(MIXED_POLICIES[mixed])
    try:
        yield keras.config.dtype_policy().name
    finally:
        keras.config.set_dtype_policy(before)


@dataclass
class JitPlan:
    """Whether and how a model trains with XLA.

    Attributes:
        enabled: The training step (all of it, or all but the augmentation block) is
            XLA-compiled.
        split: The augmentation block runs outside the XLA-compiled part.
        reason: Why, for the run's tag.
    """

    enabled: bool
    split: bool
    reason: str

    @property
    def tag(self) -> str:
        """The ``augsweep.jit_compile`` tag: ``on`` or ``off``, then why."""
        return f"{'on' if self.enabled else 'off'}: {self.reason}"


def has_accelerator() -> bool:
    """Whether Keras's backend sees a device other than the CPU."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.default_backend() != "cpu"
    import tensorflow as tf

    return any(d.device_type != "CPU" for d in tf.config.list_physical_devices())


def plan_jit(setting, augment_block: keras.Sequential) -> JitPlan:
    """Decide XLA for a model from ``trainer.jit_compile`` and its augmentation block.

    Args:
        setting: ``auto`` (XLA on a GPU, off on a CPU, where it rarely pays), True or False.
        augment_block: The model's augmentation block (``Policy.model_block()``).

    Returns:
        The plan. With XLA on and augmentation layers in the model, the block is split off
        (:func:`split_train_step`), whether or not its layers have XLA kernels: the
        augmentation then draws the same random numbers with XLA on or off.
    """
    if setting is False:
        return JitPlan(False, False, "trainer.jit_compile=false")
    if keras.backend.backend() != "tensorflow":
        return _plan_whole_step(setting, augment_block)
    if setting == "auto" and not has_accelerator():
        return JitPlan(False, False, "auto: no GPU, XLA rarely pays on a CPU")
    why = "trainer.jit_compile=true" if setting is True else "auto: GPU"
    augmenting = [layer for layer in augment_block.layers if not _is_identity(layer)]
    if not augmenting:
        return JitPlan(True, False, f"{why}, whole step compiled")
    no_kernel = [type(x).__name__ for x in augmenting if not getattr(x, "supports_jit", True)]
    detail = f" (no XLA kernel for {', '.join(no_kernel)})" if no_kernel else ""
    return JitPlan(True, True, f"{why}, augmentation block outside the compiled step{detail}")


def _plan_whole_step(setting, augment_block: keras.Sequential) -> JitPlan:
    """JAX: the whole step compiled, augmentation included, unless a layer forbids it."""
    why = "trainer.jit_compile=true" if setting is True else "auto: JAX compiles the step"
    layers = [layer for layer in augment_block.layers if not _is_identity(layer)]
    no_jit = [type(x).__name__ for x in layers if not getattr(x, "supports_jit", True)]
    if no_jit:
        return JitPlan(False, False, f"{', '.join(no_jit)} says supports_jit=False, so Keras "
                       "runs the whole step op by op (use the fused affine technique)")  # fmt: skip
    what = "augmentation included" if layers else "no augmentation layers"
    return JitPlan(True, False, f"{why}, whole step compiled on JAX ({what})")


def _is_identity(layer) -> bool:
    return isinstance(layer, keras.layers.Identity)


def compile_classifier(
    model: keras.Model,
    augment_block: keras.Sequential,
    body: keras.Model,
    *,
    optimizer,
    jit_compile,
    steps_per_execution: int = 1,
) -> JitPlan:
    """Compile a classifier (``augment_block -> body``) for categorical cross-entropy.

    Under ``mixed_float16`` (a model built inside :func:`precision`) ``compile`` wraps the
    optimizer in a ``LossScaleOptimizer`` (Keras's ``auto_scale_loss``).

    Args:
        model: The classifier, ``body(augment_block(inputs))``.
        augment_block: Its augmentation block.
        body: Its body.
        optimizer: The optimizer.
        jit_compile: ``trainer.jit_compile``: ``auto``, True or False.
        steps_per_execution: Training steps per call of the compiled function (callbacks
            still run at every epoch's end).

    Returns:
        The XLA plan that was applied.
    """
    plan = plan_jit(jit_compile, augment_block)
    model.compile(
        optimizer=optimizer,
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=plan.enabled and not plan.split,
        steps_per_execution=steps_per_execution,
    )
    if plan.split:
        model.train_step = split_train_step(model, augment_block, body)
    return plan


def split_train_step(model: keras.Model, augment_block: keras.Sequential, body: keras.Model):
    """A training step for ``model`` that runs ``augment_block`` as plain TensorFlow and the
    rest as one XLA-compiled function.

    It does what Keras's own ``train_step`` does (forward, loss, loss scaling, gradients,
    optimizer, loss and metrics), written out here because Keras can compile only the
    whole step. The model itself is unchanged: saved, evaluated and predicted as always
    (its augmentation block is inactive outside training).

    Args:
        model: The compiled classifier, ``body(augment_block(inputs))``, compiled with
            ``jit_compile=False``.
        augment_block: Its augmentation block.
        body: Its body.

    Returns:
        The step, to set as ``model.train_step``; its ``compiled`` attribute is the
        XLA-compiled rest (a ``tf.function``).
    """
    import tensorflow as tf

    loss_tracker = next(m for m in model.metrics if m.name == "loss")

    @tf.function(jit_compile=True, reduce_retracing=True)
    def compiled(x, y, sample_weight):
        with tf.GradientTape() as tape:
            y_pred = body(x, training=True)
            loss = model.compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
            )
            loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
            scaled = model.optimizer.scale_loss(loss)
        weights = model.trainable_weights
        model.optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights, strict=True))
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def train_step(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        return compiled(augment_block(x, training=True), y, sample_weight)

    train_step.compiled = compiled
    return train_step
