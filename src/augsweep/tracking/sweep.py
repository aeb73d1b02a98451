"""Sweeps: a parent MLflow run per Hydra multirun, finished (orphaned jobs closed, report
built, parent closed) when the jobs are done.

:class:`SweepTracker` is a Hydra callback (see ``conf/config.yaml``). In the launching
process, before any job, it creates the experiment and the sweep's parent run once (no race
between jobs on a new SQLite store) and writes ``sweep.json`` into the sweep directory; every
job, in whatever process or machine the launcher puts it, reads that file to nest its run.
When the jobs have ended it builds the comparison report from MLflow. Hydra skips
``on_multirun_end`` when a job failed, so the report is also hooked on interpreter exit.
"""

from __future__ import annotations

import atexit
import json
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from augsweep.tracking.tags import Tag

SWEEP_FILE = "sweep.json"


@dataclass(frozen=True)
class SweepInfo:
    """What the jobs of a sweep share.

    Attributes:
        sweep_id: Tag ``sweep_id`` of the parent run and of every job's run.
        parent_run_id: The sweep's parent run.
        experiment_id: The MLflow experiment of the sweep.
        tracking_uri: The resolved tracking URI.
        swept_keys: Config keys that vary between the jobs; a job's run is named after
            its values of these (``augment=flip``).
    """

    sweep_id: str
    parent_run_id: str
    experiment_id: str
    tracking_uri: str
    swept_keys: tuple[str, ...] = ()

    def swept_overrides(self, job_overrides: list[str]) -> list[str]:
        """The job's overrides of the swept keys (all of them if none is swept)."""
        swept = [o for o in job_overrides if o.split("=", 1)[0].lstrip("+~") in self.swept_keys]
        return swept or list(job_overrides)

    def write(self, sweep_dir: Path) -> Path:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        path = sweep_dir / SWEEP_FILE
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def read(cls, sweep_dir: Path) -> SweepInfo | None:
        path = Path(sweep_dir) / SWEEP_FILE
        if not path.exists():
            return None
        fields = json.loads(path.read_text())
        fields["swept_keys"] = tuple(fields.get("swept_keys", ()))
        return cls(**fields)


def swept_keys(config: DictConfig) -> tuple[str, ...]:
    """Keys swept by the command line (``augment=none,flip``) or ``hydra.sweeper.params``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    keys = [o.get_key_element() for o in overrides if o.is_sweep_override()]
    keys += list(config.hydra.sweeper.get("params") or {})
    return tuple(dict.fromkeys(keys))


def new_sweep_id() -> str:
    """A sortable, unique id: ``YYYYmmdd-HHMMSS-xxxxxx``."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


class SweepTracker(Callback):
    """Hydra callback that groups a multirun's jobs under one MLflow parent run."""

    def __init__(self) -> None:
        self.info: SweepInfo | None = None
        self.sweep_dir: Path | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from augsweep.tracking import store

        uri = store.resolve_uri(config.tracking.uri)
        client = store.connect(uri)
        experiment_id = store.ensure_experiment(client, config.tracking.experiment)
        self.sweep_dir = Path(config.hydra.sweep.dir).absolute()
        sweep_id = new_sweep_id()
        parent = client.create_run(
            experiment_id,
            run_name=f"sweep {sweep_id}",
            tags={
                Tag.SWEEP_ID: sweep_id,
                Tag.ROLE: "sweep",
                Tag.SWEEP_DIR: str(self.sweep_dir),
                Tag.SWEEP_OVERRIDES: " ".join(config.hydra.overrides.task),
            },
        )
        self.info = SweepInfo(sweep_id, parent.info.run_id, experiment_id, uri, swept_keys(config))
        self.info.write(self.sweep_dir)
        # Report and close the parent run on any exit: a failed job (Hydra then skips
        # on_multirun_end), Ctrl-C, or SIGTERM from a scheduler.
        atexit.register(self.finish)
        store.interrupt_on_sigterm()

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        self.finish()

    def finish(self) -> None:
        """Build the report, close the parent run and say where everything is (once)."""
        if self.info is None:
            return
        info, self.info = self.info, None
        atexit.unregister(self.finish)
        finish_sweep(info, self.sweep_dir)


def finish_sweep(info: SweepInfo, sweep_dir: Path) -> list[Path]:
    """End a sweep: close orphaned job runs, build the report, close the parent run.

    Args:
        info: The sweep.
        sweep_dir: Hydra's sweep directory, where the report is written.

    Returns:
        The report's files.
    """
    from augsweep.tracking import report, store

    client = store.connect(info.tracking_uri)
    runs = report.sweep_runs(client, info.sweep_id, [info.experiment_id])
    orphans = [run for run in runs if run.info.status == "RUNNING"]
    for run in orphans:  # its process died without closing it
        client.set_tag(run.info.run_id, Tag.ERROR, "job ended without closing its run")
        client.set_terminated(run.info.run_id, "FAILED")
    if orphans:
        runs = report.sweep_runs(client, info.sweep_id, [info.experiment_id])
    paths: list[Path] = []
    try:
        records = report.load_records(client, runs)
        paths = report.build_report(records, sweep_dir, f"sweep {info.sweep_id}")
        for path in paths:
            client.log_artifact(info.parent_run_id, str(path))
    finally:
        client.set_terminated(info.parent_run_id, sweep_status(runs))
    print(
        f"\nSweep {info.sweep_id}: {len(runs)} runs "
        f"({', '.join(f'{r.info.run_name}: {r.info.status}' for r in runs)})"
    )
    if paths:
        print(f"Report: {sweep_dir / 'summary.md'} (and comparison_*.png, summary.csv)")
    print("MLflow UI: make ui, then open http://127.0.0.1:5000")
    return paths


def sweep_status(runs) -> str:
    """The parent run's status: KILLED or FAILED if any job run is, else FINISHED."""
    statuses = {run.info.status for run in runs}
    for status in ("KILLED", "FAILED"):
        if status in statuses:
            return status
    return "FINISHED" if runs else "FAILED"
