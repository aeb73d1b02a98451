"""The trainer's speed knobs: mixed precision, XLA (with augmentation outside the compiled
step), steps per execution; on the CPU, in real training."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from mlflow.tracking import MlflowClient

from augsweep import compute
from augsweep.augment.policy import build_policy
from augsweep.compute import compile_classifier, plan_jit, precision
from augsweep.data.pipeline import batches
from augsweep.models import build_classifier
from augsweep.run import train
from tests.helpers import TECHNIQUES, compose_config, photos

LABEL_MIXING = ("mixup", "cutmix")
SHAPE = (24, 24, 3)


def classifier(augment_cfg, *, mixed: bool, jit, seed: int = 0):
    """A tiny small_cnn behind the policy's block, built and compiled as a run does."""
    keras.utils.set_random_seed(seed)
    policy = build_policy(augment_cfg, seed)
    block = policy.model_block()
    model_cfg = compose_config("model.filters=[4]", "model.dense_units=8").model
    with precision(mixed):
        model = build_classifier(model_cfg, block, input_shape=SHAPE, num_classes=3)
        plan = compile_classifier(
            model, block, model.layers[-1], optimizer=keras.optimizers.Adam(1e-3),
            jit_compile=jit,
        )  # fmt: skip
    return model, policy, plan


def data(policy, count: int = 32):
    labels = np.arange(count) % 3
    examples = tf.data.Dataset.from_tensor_slices((photos(count, SHAPE[0]), labels))
    return batches(examples, 8, 3, shuffle_seed=0, augment_batch=policy.batch_stage())


@pytest.mark.slow  # about 20 s each on 2 cores: every technique's graph is built
@pytest.mark.parametrize("placement", ["model"])
def test_every_technique_trains_under_mixed_precision_with_float32_outputs(placement):
    use = [t for t in TECHNIQUES if t not in LABEL_MIXING] + ["mixup"]
    augment = compose_config(f"augment.use=[{','.join(use)}]", f"augment.placement={placement}")
    model, policy, _ = classifier(augment.augment, mixed=True, jit=False)

    history = model.fit(data(policy), epochs=1, verbose=0, shuffle=False)

    assert keras.config.dtype_policy().name == "float32"  # restored for the next job
    assert model.layers[-1].layers[1].compute_dtype == "float16"  # the body's first conv
    assert model(photos(2, SHAPE[0])).dtype == "float32"  # softmax in float32
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert math.isfinite(history.history["loss"][0])


@pytest.mark.slow  # about 15 s on 2 shared cores: two trainings, one XLA compile
def test_xla_compiles_all_but_an_in_model_rotation_and_trains_as_without_it():
    # The chained Keras layers (flip_rot_zoom is one RandomAffine, which has no XLA kernel
    # either).
    augment = compose_config("augment=compose", "augment.use=[flip,rotation,zoom]").augment
    plain, policy, off = classifier(augment, mixed=False, jit=False)
    want = plain.fit(data(policy), epochs=2, verbose=0, shuffle=False).history
    keras.utils.clear_session()
    model, policy, on = classifier(augment, mixed=False, jit=True)

    got = model.fit(data(policy), epochs=2, verbose=0, shuffle=False).history

    keras_alone = keras.models.clone_model(model)
    with pytest.warns(UserWarning, match="doesn't support `jit_compile=True`"):
        keras_alone.compile(optimizer="adam", loss="categorical_crossentropy", jit_compile=True)
    assert keras_alone.jit_compile is False  # what Keras does with RandomRotation inside
    assert off.tag.startswith("off") and on.tag.startswith("on")
    assert on.split and "RandomRotation" in on.tag and "RandomZoom" in on.tag
    step = model.train_step.compiled
    assert step.experimental_get_tracing_count() >= 1  # fit trained through it
    x, y = next(iter(data(policy)))
    assert "convolution" in step.experimental_get_compiler_ir(x, y, None)(stage="hlo")
    assert got["accuracy"] == want["accuracy"]
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-4)


def test_auto_is_off_on_a_cpu_and_an_empty_block_compiles_whole(monkeypatch):
    monkeypatch.setattr(compute, "has_accelerator", lambda: False)  # whatever this machine has
    empty = build_policy(compose_config("augment=none").augment, 0).model_block()
    assert plan_jit("auto", empty).tag == "off: auto: no GPU, XLA rarely pays on a CPU"
    assert not plan_jit(True, empty).split and plan_jit(True, empty).enabled


def test_auto_on_a_gpu_compiles_with_the_augmentation_block_outside(monkeypatch):
    monkeypatch.setattr(compute, "has_accelerator", lambda: True)
    empty = build_policy(compose_config("augment=none").augment, 0).model_block()
    assert plan_jit("auto", empty).tag == "on: auto: GPU, whole step compiled"
    block = build_policy(compose_config("augment=flip").augment, 0).model_block()
    plan = plan_jit("auto", block)
    assert plan.enabled and plan.split
    assert plan.tag == "on: auto: GPU, augmentation block outside the compiled step"
    rotation = build_policy(compose_config("augment=rotation").augment, 0).model_block()
    assert plan_jit("auto", rotation).tag == (
        "on: auto: GPU, augmentation block outside the compiled step "
        "(no XLA kernel for RandomRotation)"
    )
    assert plan_jit(False, block).tag == "off: trainer.jit_compile=false"


@pytest.mark.slow
def test_mixed_precision_xla_and_steps_per_execution_train_and_log_every_epoch(small_cfg):
    cfg = small_cfg(
        "augment=flip_rot_zoom",
        "trainer.mixed_precision=true",
        "trainer.jit_compile=true",
        "trainer.steps_per_execution=2",
        "trainer.epochs=3",
        "tracking.log_model=true",  # the model under a float16 policy saves
    )

    train(cfg)

    client = MlflowClient(cfg.tracking.uri)
    (run,) = client.search_runs([client.get_experiment_by_name("augsweep").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["augsweep.compute_dtype"] == "float16"
    assert run.data.tags["augsweep.jit_compile"].startswith("on: trainer.jit_compile=true")
    for key in ("loss", "val_accuracy", "clean_accuracy"):
        history = client.get_metric_history(run.info.run_id, key)
        assert sorted(m.step for m in history) == [0, 1, 2]
        assert all(math.isfinite(m.value) for m in history)
    assert keras.config.dtype_policy().name == "float32"
