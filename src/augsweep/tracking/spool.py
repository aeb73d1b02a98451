"""A run's outbox: what could not reach the tracking server, kept on disk until it can.

Training must not die because tracking blinked. While a run trains against an
``mlflow server``, its epoch metrics, tags and final status go through an :class:`Outbox`:
sent at once while the server answers; when a send fails and the server's ``/health`` does
not answer either, the record is appended to the run's spool file,
``$AUGSWEEP_CACHE_DIR/spool/<run_id>.jsonl`` (one JSON record a line, the first naming the
tracking URI and the run), and training goes on. At every later epoch the outbox looks again
(one quick probe); once the server is back, the spool is sent in order and removed. At the
run's end the outbox waits for the server at most ``tracking.reconnect_wait_s`` seconds;
what is still unsent then stays in the spool: ``python -m augsweep.tracking.sync`` sends
it, and so does the next launch against the same server (:func:`replay_pending`).

Sending is idempotent: before metrics are replayed, the server's history of each metric is
read and only the steps it lacks are sent (a request whose answer was lost may have been
stored), so every epoch's metrics reach the server exactly once. Tags and the status are
set, which is the same done twice. Heartbeat tags are sent only live, never kept: a late
heartbeat says nothing. Only runs on a server use the spool; errors of a SQLite store,
or of a server that answers, are raised as before.

Epochs and heartbeats are sent by the outbox's sender thread, in order, while training goes
on (a write is one database transaction, 10-100 ms of waiting on the disk or the network per
epoch); everything else (the run's end, :meth:`Outbox.settle`) first waits until the queue is
empty (:meth:`Outbox.drain`). Nothing is lost: the run's status is set only after every
queued epoch was sent or kept, an error of the sender is raised in the training thread (at
the next epoch, or at the end, so the run ends FAILED with it), and a process killed with
epochs still queued has them in its checkpoint, whose resume sends MLflow the epochs it
lacks (:mod:`augsweep.checkpoint`).

A spool file is locked (``flock``) while its run's process or a replay uses it, so that two
processes never send it at once. MLflow is imported only to send: a launch looks for spool
files before anything heavy is loaded.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from augsweep.paths import user_cache_dir
from augsweep.tracking import probe
from augsweep.tracking import uri as uris
from augsweep.tracking.tags import Tag

RECONNECT_PROBE_S = 1.0  # the quick look at /health after each epoch while away
RECONNECT_POLL_S = 2.0  # between looks while waiting at a run's end


class StoreLost(probe.StoreUnavailable):
    """The tracking server went away during a run and did not come back in time."""


def spool_dir() -> Path:
    """Where spool files are kept: ``$AUGSWEEP_CACHE_DIR/spool``."""
    return user_cache_dir() / "spool"


class Outbox:
    """Sends a run's records to the tracking server, or keeps them while it is away.

    Args:
        client: MLflow client of the run's tracking store.
        run_id: The run.
        wait_s: How long :meth:`settle` and :meth:`end` wait for a server that went away.
        folder: Where the spool file goes; default :func:`spool_dir`.
    """

    def __init__(self, client, run_id: str, wait_s: float, folder=None):
        self.client = client
        self.uri = client.tracking_uri
        self.run_id = run_id
        self.wait_s = wait_s
        self.path = Path(folder or spool_dir()) / f"{run_id}.jsonl"
        self.offline = False
        self.pending: list[dict] = []
        self._file = None  # the spool file, open and locked, while records wait in it
        self._waited = False
        self._queue: queue.Queue | None = None  # live records for the sender thread
        self._error: BaseException | None = None  # the sender's, raised in the caller's

    @property
    def remote(self) -> bool:
        return uris.is_http(self.uri)

    def log_metrics(self, values: Mapping[str, float], step: int, heartbeat: bool = False) -> None:
        """One epoch's metrics at ``step``, with the time they were measured.

        Args:
            values: Metric name -> value.
            step: The 0-based epoch.
            heartbeat: Also show the run alive, in the same write (one SQLite transaction
                per epoch rather than two, ~10 ms each); the heartbeat is never kept for
                later, the metrics are.
        """
        record = {"kind": "metrics", "run_id": self.run_id, "step": int(step),
                  "timestamp": int(time.time() * 1000),
                  "values": {k: float(v) for k, v in values.items()}}  # fmt: skip
        live = {**record, "tags": {Tag.HEARTBEAT: str(int(time.time()))}} if heartbeat else None
        self._send_later(record, True, live)

    def heartbeat(self, run_ids: Iterable[str]) -> None:
        """Show ``run_ids`` alive, if the server is there (never kept for later)."""
        beat = str(int(time.time()))
        for run_id in run_ids:
            record = {"kind": "tags", "run_id": run_id, "tags": {Tag.HEARTBEAT: beat}}
            self._send_later(record, False, None)

    def _send_later(self, record: dict, keep: bool, sent_as: dict | None) -> None:
        """Queue a live record for the sender thread (started with the first one); raise
        the error of an earlier send, if one failed."""
        self._raise_sender_error()
        if self._queue is None:
            self._queue = queue.Queue()
            threading.Thread(target=self._send_queued, args=(self._queue,), daemon=True,
                             name=f"augsweep-outbox-{self.run_id[:8]}").start()  # fmt: skip
        self._queue.put((record, keep, sent_as))

    def _send_queued(self, records: queue.Queue) -> None:
        """The sender thread: :meth:`deliver` each queued record in order, until ``None``.
        After an error, the rest is dropped (the run fails with that error)."""
        while (item := records.get()) is not None:
            try:
                if self._error is None:
                    record, keep, sent_as = item
                    self.deliver(record, keep=keep, sent_as=sent_as)
            except BaseException as error:  # handed to the training thread
                self._error = error
            finally:
                records.task_done()
        records.task_done()

    def drain(self) -> None:
        """Wait until every queued record was sent (or kept); raise the sender's error."""
        if self._queue is not None:
            self._queue.join()
        self._raise_sender_error()

    def _raise_sender_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _stop_sender(self) -> None:
        """Wait for the queue, then end the sender thread (its error is dropped: the run
        ends now, failed already if it had one)."""
        if self._queue is not None:
            self._queue.join()
            self._queue.put(None)
            self._queue = None
        self._error = None

    def deliver(self, record: dict, keep: bool = True, sent_as: dict | None = None) -> bool:
        """Send ``record`` now, or keep it (if ``keep``) while the server is away.

        ``sent_as``, if given, is what is sent instead (``record`` with more that is not
        worth keeping, such as a heartbeat); ``record`` is what is kept.

        Returns:
            Whether it was sent.

        Raises:
            Exception: MLflow's error, for a SQLite store or a server that answers.
        """
        if self.offline and not self.reconnect():
            return self._keep(record) if keep else False
        try:
            send_all(self.client, [sent_as or record], check_steps=False)
            return True
        except Exception:
            if not self.remote or probe.server_healthy(self.uri):
                raise
        self._went_away()
        return self._keep(record) if keep else False

    def reconnect(self, wait_s: float = 0.0) -> bool:
        """Whether the server is back (looking for up to ``wait_s`` seconds); if it is, the
        spool is sent and removed first."""
        deadline = time.monotonic() + wait_s
        while True:
            if probe.server_healthy(self.uri, RECONNECT_PROBE_S) and self._flush():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(RECONNECT_POLL_S)

    def settle(self) -> None:
        """Before the run's last steps (summary, files, model): wait for a server that went
        away, at most ``wait_s`` seconds, and send what was kept.

        Raises:
            StoreLost: It did not come back; the kept records stay in the spool.
            Exception: An error of a queued epoch's send (:meth:`drain`).
        """
        self.drain()
        if not self.offline or self.reconnect(self._wait_once()):
            return
        raise StoreLost(
            f"the tracking server {self.uri} did not come back within {self.wait_s:.0f} s "
            f"after training; {len(self.pending)} records of run {self.run_id} are kept in "
            f"{self.path}: `python -m augsweep.tracking.sync` sends them once it is back "
            "(the next launch does too, and then resumes the run to log its files)"
        )

    def end(self, status: str, error: str | None) -> bool:
        """The run's final status (and error tag): sent, or kept with the rest.

        Returns:
            Whether everything of the run reached the server.
        """
        self._stop_sender()
        if self.offline:
            self.reconnect(self._wait_once())
        record = {"kind": "end", "run_id": self.run_id, "status": status, "error": error,
                  "end_time": int(time.time() * 1000)}  # fmt: skip
        sent = self.deliver(record) or self.reconnect(self._wait_once())
        if not sent:
            print(f"augsweep: the tracking server {self.uri} is still away: run {self.run_id} "
                  f"({status}) is kept in {self.path} ({len(self.pending)} records); "
                  "`python -m augsweep.tracking.sync` sends it once the server is back "
                  "(the next launch against it does too)", file=sys.stderr, flush=True)  # fmt: skip
        self._close()
        return sent

    def _wait_once(self) -> float:
        """The end wait, once per run: after it has run out, the rest is kept at once."""
        wait, self._waited = (0.0 if self._waited else self.wait_s), True
        return wait

    def _went_away(self) -> None:
        if not self.offline:
            print(f"augsweep: the tracking server {self.uri} does not answer: training goes "
                  f"on; what cannot be sent is kept in {self.path} and sent when it is back",
                  file=sys.stderr, flush=True)  # fmt: skip
        self.offline = True

    def _keep(self, record: dict) -> bool:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a")  # noqa: SIM115 (held open: it holds the lock)
            fcntl.flock(self._file, fcntl.LOCK_EX)
            if self._file.tell() == 0:
                _append(self._file, {"kind": "run", "uri": self.uri, "run_id": self.run_id})
        self.pending.append(record)
        _append(self._file, record)
        return False

    def _flush(self) -> bool:
        """Send the kept records; on success remove the spool file. Whether all were sent."""
        try:
            send_all(self.client, self.pending)
        except Exception:
            return False
        self.pending.clear()
        if self._file is not None:
            self.path.unlink(missing_ok=True)
        self._close()
        self.offline = False
        return True

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()  # releases the lock
            self._file = None


def end_active_run(outbox: Outbox, status: str, error: str | None) -> None:
    """End the active MLflow run, ``outbox``'s, through it: its status and error tag sent,
    or kept in the spool while its server is away."""
    import mlflow

    if outbox.end(status, error):
        mlflow.end_run(status)  # MLflow's own bookkeeping; the status is already set
        return
    # end_run leaves MLflow's stack of active runs first, then fails to reach the server:
    # at once, without retries (their warnings would follow the message that said why).
    retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    try:
        with contextlib.suppress(Exception):
            mlflow.end_run(status)
    finally:
        if retries is None:
            os.environ.pop("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
        else:
            os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = retries


def send_or_keep(client, record: dict, folder: Path | None = None) -> bool:
    """Send one record outside a run's outbox (a sweep's job record on its parent run), or,
    while its server is away, append it to its run's spool file at once (under the file's
    lock, so that parallel jobs append in turn): the next launch or job start against that
    server, or ``augsweep sync``, sends it (:func:`replay_pending`).

    Args:
        client: MLflow client of the record's tracking store.
        record: A record as an :class:`Outbox` keeps it (``tags``, ``end``).
        folder: The spool folder; default :func:`spool_dir`.

    Returns:
        Whether it was sent.

    Raises:
        Exception: MLflow's error, for a SQLite store or a server that answers.
    """
    try:
        send_all(client, [record], check_steps=False)
        return True
    except Exception:
        if not uris.is_http(client.tracking_uri) or probe.server_healthy(client.tracking_uri):
            raise
    outbox = Outbox(client, record["run_id"], 0.0, folder)
    try:
        outbox._keep(record)
    finally:
        outbox._close()
    return False


def send_all(client, records: Iterable[dict], check_steps: bool = True) -> None:
    """Send records in order: metrics, tags, a run's end.

    Args:
        client: Client of the tracking store.
        records: Records as an :class:`Outbox` keeps them.
        check_steps: Send only the metric steps the server lacks (replays); live sends
            skip the lookup.
    """
    from mlflow.entities import Metric, RunTag

    stored: dict[tuple[str, str], set[int]] = {}
    for record in records:
        run_id = record["run_id"]
        if record["kind"] == "metrics":
            tags = [RunTag(k, str(v)) for k, v in record.get("tags", {}).items()]
            metrics = []
            for key, value in record["values"].items():
                if check_steps:
                    steps = _stored_steps(client, stored, run_id, key)
                    if record["step"] in steps:
                        continue
                    steps.add(record["step"])
                metrics.append(Metric(key, value, record["timestamp"], record["step"]))
            if metrics or tags:
                client.log_batch(run_id, metrics=metrics, tags=tags, synchronous=True)
        elif record["kind"] == "tags":
            tags = [RunTag(k, str(v)) for k, v in record["tags"].items()]
            client.log_batch(run_id, tags=tags, synchronous=True)
        elif record["kind"] == "end":
            if record.get("error"):
                client.set_tag(run_id, Tag.ERROR, record["error"])
            client.set_terminated(run_id, record["status"], record["end_time"])


def _stored_steps(client, stored: dict, run_id: str, key: str) -> set[int]:
    if (run_id, key) not in stored:
        stored[run_id, key] = {m.step for m in client.get_metric_history(run_id, key)}
    return stored[run_id, key]


def _append(handle, record: dict) -> None:
    """One record a line, on disk before training goes on (a crash keeps it)."""
    handle.write(json.dumps(record) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


@dataclass
class Replay:
    """What became of one spool file.

    Attributes:
        path: The spool file.
        run_id: Its run.
        uri: Its tracking server.
        sent: Whether it was sent (and removed).
        reason: Why not, or what was sent.
    """

    path: Path
    run_id: str
    uri: str
    sent: bool
    reason: str


def replay_pending(uri: str | None = None, folder: Path | None = None) -> list[Replay]:
    """Send the spool files left by earlier runs (of ``uri``'s server, or of any).

    A file in use (its run still trains, or another process replays it) is left alone, as
    is one whose server does not answer.

    Args:
        uri: Only the spools of this tracking URI; None: all of them.
        folder: The spool folder; default :func:`spool_dir`.

    Returns:
        One :class:`Replay` per spool file looked at.
    """
    folder = Path(folder or spool_dir())
    done = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        replay = _replay_file(path, uri)
        if replay is not None:
            done.append(replay)
    return done


def _replay_file(path: Path, uri: str | None) -> Replay | None:
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return Replay(path, path.stem, uri or "", False, "in use by another process")
        if os.fstat(handle.fileno()).st_nlink == 0:
            return None  # sent and removed while we waited for it
        lines = [json.loads(line) for line in handle if line.strip()]
        head, records = (lines[0], lines[1:]) if lines else ({}, [])
        server, run_id = head.get("uri", ""), head.get("run_id", path.stem)
        if uri is not None and server.rstrip("/") != uri.rstrip("/"):
            return None
        if not probe.server_healthy(server):
            return Replay(path, run_id, server, False, f"no answer from {server}")
        from mlflow.tracking import MlflowClient

        try:
            send_all(MlflowClient(tracking_uri=server), records)
        except Exception as error:  # the server went away again: the file stays
            return Replay(path, run_id, server, False, f"not sent: {error}"[:300])
        path.unlink()
    epochs = sum(r["kind"] == "metrics" for r in records)
    end = next((r["status"] for r in records if r["kind"] == "end"), "still running")
    return Replay(path, run_id, server, True, f"{epochs} epoch records, status {end}")
