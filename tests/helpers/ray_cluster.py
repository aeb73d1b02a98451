"""A real two-node Ray cluster on this machine for the tests: ``ray start --head`` on
127.0.0.1 and a second node joined to it (``ray start --address``), each its own process
group, so that a test can kill one node as a machine dies."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.server import free_port

RAY = Path(sys.executable).with_name("ray")
# Token authentication (on by default since Ray 2.5x) needs a token shared by the nodes and
# the drivers: off for a cluster of one machine's loopback.
ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


class Node:
    """One ``ray start --block`` process (a Ray node: raylet, workers ...)."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        with open(log, "w") as out:
            self.process = subprocess.Popen(
                [str(RAY), "start", "--block", "--disable-usage-stats", *args],
                env={**os.environ, **ENV}, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL every process of the node at once, as a machine that dies."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """Stop the node (``ray start --block`` stops its processes on SIGTERM)."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        self.kill()


@contextlib.contextmanager
def two_node_cluster(folder: Path, cpus_per_node: int = 1) -> Iterator[tuple[str, list[Node]]]:
    """A head and a worker node with ``cpus_per_node`` CPUs each; yields the head's
    address (``127.0.0.1:PORT``) and the nodes, and stops them at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"127.0.0.1:{port}"
    nodes = [Node(["--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                   f"--num-cpus={cpus_per_node}", "--include-dashboard=false",
                   f"--ray-client-server-port={free_port()}"], folder / "head.log")]  # fmt: skip
    try:
        _wait_for_nodes(address, 1, nodes)
        nodes.append(Node([f"--address={address}", "--node-ip-address=127.0.0.1",
                           f"--num-cpus={cpus_per_node}"], folder / "node.log"))  # fmt: skip
        _wait_for_nodes(address, 2, nodes)
        yield address, nodes
    finally:
        for node in reversed(nodes):
            node.stop()


def _wait_for_nodes(address: str, count: int, nodes: list[Node], timeout: float = 90) -> None:
    """Wait until ``count`` nodes are alive in the cluster (asked in a subprocess: a driver
    here would stay connected)."""
    probe = (f"import ray; ray.init(address={address!r}, logging_level='ERROR'); "
             "print(sum(n['Alive'] for n in ray.nodes()))")  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node in nodes:
            assert node.process.poll() is None, node.log.read_text()[-3000:]
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              env={**os.environ, **ENV}, timeout=60)  # fmt: skip
        if done.returncode == 0 and done.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(1)
    raise TimeoutError(f"Ray: {count} nodes not up in {timeout} s")
