"""The quiet console: TensorFlow's native start-up chatter filtered from descriptor 2, real
warnings kept; durations in words."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from augsweep.console import duration, is_chatter

# As TensorFlow 2.21 wrote them on this CPU machine (a job's stderr before the filter).
CHATTER = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796328948.520653   26661 port.cc:153] oneDNN custom operations are on. You "
    "may see slightly different numerical results due to floating-point round-off errors.",
    "I0000 00:00:1796328948.529210   26661 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "I0000 00:00:1796328949.284432   26661 cpu_feature_guard.cc:227] This TensorFlow binary "
    "is optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other "
    "operations, rebuild TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796328955.401087   26661 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]
CUINIT = CHATTER[-1]
KEPT = [
    "/x/augsweep/run.py:12: UserWarning: something the user should see",
    "WARNING:absl:Compiled the loaded model, but the compiled metrics have yet to be built.",
    "W0000 00:00:1796328955.1 26661 op_level_cost_estimator.cc:699] Error in PredictCost()",
    "Traceback (most recent call last):",
]


@pytest.mark.parametrize("line", CHATTER)
def test_tensorflow_start_up_lines_are_chatter(line):
    assert is_chatter(line)


@pytest.mark.parametrize("line", KEPT)
def test_warnings_and_tracebacks_are_kept(line):
    assert not is_chatter(line)


def test_cuinit_is_kept_when_the_job_was_given_a_gpu():
    assert not is_chatter(CUINIT, gpu_asked=True)


PROGRAM = textwrap.dedent(
    """
    import os, warnings
    from augsweep.console import quiet_native_logs
    quiet_native_logs()
    for line in CHATTER:
        os.write(2, (line + "\\n").encode())  # as TensorFlow's C++ writes: the descriptor
    warnings.warn("a deprecated option was used")
    raise SystemExit("the end, after the filter")
    """
)


def stderr_of(program_env: dict) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",
                                                          "CUDA_VISIBLE_DEVICES")}  # fmt: skip
    program = f"CHATTER = {CHATTER!r}\n{PROGRAM}"
    done = subprocess.run([sys.executable, "-c", program], env={**env, **program_env},
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    return done.stderr


def test_the_filter_hides_native_chatter_and_passes_real_warnings_on():
    stderr = stderr_of({})
    for marker in ("oneDNN", "cudart_stub", "cpu_feature_guard", "cuda_platform", "absl"):
        assert marker not in stderr
    assert "UserWarning: a deprecated option was used" in stderr
    assert "the end, after the filter" in stderr  # what is written at exit still comes out


def test_the_filter_keeps_cuinit_when_a_gpu_was_asked_for():
    stderr = stderr_of({"CUDA_VISIBLE_DEVICES": "0"})
    assert "failed call to cuInit" in stderr
    assert "oneDNN" not in stderr


@pytest.mark.parametrize("env", [{"TF_CPP_MIN_LOG_LEVEL": "0"}, {"AUGSWEEP_NATIVE_LOGS": "1"}])
def test_the_user_who_asks_for_native_logs_gets_them(env):
    stderr = stderr_of(env)
    assert "oneDNN" in stderr and "cpu_feature_guard" in stderr


def test_durations_read_as_words():
    assert [duration(s) for s in (4.4, 65, 7500)] == ["4 s", "1 min 05 s", "2 h 05 min"]
