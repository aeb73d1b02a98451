"""A real ``mlflow server`` on 127.0.0.1 for tests: started with the Makefile's own
``make server`` target (over any store), stopped with its whole process group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import ROOT

VENV = Path(sys.executable).parent.parent  # the environment running the tests


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``make server`` on ``port`` over ``store`` (``mlflow.db`` + ``artifacts/``), or over
    ``backend`` (a database URI) with artifacts in ``store/artifacts``.

    Args:
        store: Folder of the SQLite store and the served artifacts.
        port: Port of 127.0.0.1.
        backend: Another backend store URI (PostgreSQL), instead of ``store/mlflow.db``.
        args: More `mlflow server` options (the Makefile's ``SERVER_ARGS``).
    """

    def __init__(self, store: Path, port: int, backend: str | None = None, args: str = ""):
        self.store, self.port, self.backend, self.args = store, port, backend, args
        self.uri = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self.log = store / f"server-{port}.log"

    def command(self) -> list[str]:
        # STAMP= : no set-up step (the tests' environment is already installed).
        args = [
            "make",
            "-s",
            "-C",
            str(ROOT),
            "server",
            "STAMP=",
            f"VENV={VENV}",
            f"SERVER_PORT={self.port}",
            f"SERVER_STORE={self.store}",
            "SERVER_WORKERS=1",
        ]
        if self.backend:
            args.append(f"SERVER_BACKEND={self.backend}")
        if self.args:
            args.append(f"SERVER_ARGS={self.args}")
        return args

    def start(self, timeout: float = 120) -> None:
        """Start it and wait until ``/health`` answers."""
        self.store.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {self.log.read_text()[-3000:]}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer,
            ):
                if answer.status == 200:
                    return
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"mlflow server not up in {timeout} s: {self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it and every process it started (its own process group) with ``sig``
        (SIGKILL: a crash), and wait until the port is closed."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        _wait_until_closed(self.port)
        self.process = None


def _wait_until_closed(port: int, timeout: float = 30) -> None:
    """Until the port no longer accepts connections (the workers have exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.2)


@contextlib.contextmanager
def mlflow_server(store: Path, backend: str | None = None, args: str = "") -> Iterator[Server]:
    """A started :class:`Server` on a free port, stopped at the end (also on failure);
    ``args``: more ``mlflow server`` options (the Makefile's ``SERVER_ARGS``)."""
    server = Server(store, free_port(), backend, args)
    server.start()
    try:
        yield server
    finally:
        server.stop()
