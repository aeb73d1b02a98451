"""What a person sees on the console: TensorFlow's native start-up chatter filtered out,
MLflow's and Hydra's repeated lines hidden, durations in words. Standard library only.

TensorFlow writes its start-up messages (oneDNN, ``cudart_stub``, ``cpu_feature_guard``,
``failed call to cuInit`` on a machine without a GPU, absl's "All log messages before
absl::InitializeLog()") from C++ straight to file descriptor 2, some at ``import``, some at
the first device use. ``TF_CPP_MIN_LOG_LEVEL`` does not hide all of them, and
``TF_ENABLE_ONEDNN_OPTS=0`` would change the numbers; so :func:`quiet_native_logs` puts a pipe
on descriptor 2 for the rest of the job's process, and a thread passes on every line but
those. Python's own warnings and tracebacks go through the same pipe and are passed on.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading

# A native log line: I1203 12:00:00.123 4242 file.cc:12] ... (I info, W warning, E error).
_NATIVE = re.compile(r"^([IWE])\d{4} [\d:. ]+\d+ (?P<file>[\w.]+)\.cc:\d+\] ")
# Warnings and errors of these files, at start-up, say only what the machine is (no GPU,
# its CPU's instructions, oneDNN on): nothing a user can act on.
_START_UP_FILES = {"port", "cudart_stub", "cpu_feature_guard", "cuda_platform", "cuda_dnn",
                   "cuda_fft", "cuda_blas", "cuda_executor", "cuda_diagnostics"}  # fmt: skip
_CHATTER = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "To enable the following instructions:",  # cpu_feature_guard's second line
)
_installed = False


def native_logs_wanted() -> bool:
    """Whether the user asked for TensorFlow's native logs (``TF_CPP_MIN_LOG_LEVEL`` set, to any
    level, or ``AUGSWEEP_NATIVE_LOGS=1``)."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:  # any level: the user chose what to see
        return True
    return os.environ.get("AUGSWEEP_NATIVE_LOGS", "0") not in ("", "0")


def is_chatter(line: str, gpu_asked: bool = False) -> bool:
    """Whether a line of descriptor 2 is TensorFlow's start-up chatter.

    Args:
        line: One line, without its end.
        gpu_asked: A GPU was given to the job (``CUDA_VISIBLE_DEVICES`` names one): then
            ``failed call to cuInit`` is kept, it says why the GPU is not used.
    """
    if line.startswith(_CHATTER):
        return True
    match = _NATIVE.match(line)
    if not match:
        return False
    if match.group(1) == "I":
        return True
    if gpu_asked and match.group("file") == "cuda_platform":
        return False
    return match.group("file") in _START_UP_FILES


def quiet_native_logs() -> None:
    """From now on, pass on descriptor 2's lines but TensorFlow's start-up chatter (once per
    process; nothing if the user asked for them, :func:`native_logs_wanted`).

    Call before ``import tensorflow``. At exit the descriptor is put back and what the pipe
    still holds is passed on (a traceback printed at exit included).
    """
    global _installed
    if _installed or native_logs_wanted():
        return
    _installed = True
    sys.stderr.flush()
    try:
        original = os.dup(2)
    except OSError:  # no descriptor 2 (a daemon started without one): nothing to filter
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    gpu_asked = bool(os.environ.get("CUDA_VISIBLE_DEVICES", "").strip(" -1,"))
    thread = threading.Thread(target=_pass_on, args=(read_end, original, gpu_asked),
                              name="augsweep-stderr-filter", daemon=True)  # fmt: skip
    thread.start()
    atexit.register(_restore, original, thread)


def _pass_on(read_end: int, original: int, gpu_asked: bool) -> None:
    with os.fdopen(read_end, "rb") as pipe:
        for raw in pipe:
            if not is_chatter(raw.decode(errors="replace").rstrip("\r\n"), gpu_asked):
                os.write(original, raw)


def _restore(original: int, thread: threading.Thread) -> None:
    """Put descriptor 2 back; the pipe, closed, ends the thread once it has passed all on."""
    sys.stderr.flush()
    os.dup2(original, 2)  # the pipe's last writer gone: the thread reads to its end
    thread.join(timeout=5)


class _NotJobLines(logging.Filter):
    """Drops a launcher's ``#3 : augment=flip seed=1 ...`` lines: augsweep's own job line
    (``job 4/9 flip,seed=1: started``) names the job."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).lstrip().startswith("#")


# Hydra's launchers that log a line per job (the basic one, joblib's, submitit's).
LAUNCHER_LOGGERS = (
    "hydra._internal.core_plugins.basic_launcher",
    "hydra_plugins.hydra_joblib_launcher._core",
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher",
)


def quiet_library_lines() -> None:
    """Hide what libraries repeat or say about themselves: MLflow's "Creating initial MLflow
    database tables" (INFO, when a store is created) and Hydra's per-job override lines.
    Their warnings still show."""
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    for name in LAUNCHER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NotJobLines) for f in logger.filters):
            logger.addFilter(_NotJobLines())


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 04 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
