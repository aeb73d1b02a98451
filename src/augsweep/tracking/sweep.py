"""Sweeps: a parent MLflow run per Hydra multirun, a record of every job, and the end of
the sweep (orphaned runs closed, report built, parent closed with the status it earned).

:class:`SweepTracker` is a Hydra callback (see ``conf/config.yaml``). In the launching
process, before any job, it reaps runs left RUNNING by dead processes, finds the sweep's
parent run (a relaunch of the same command reuses it: same sweep key) or creates it, lists
the sweep's jobs, and writes ``sweep.json`` into the sweep directory; every job, in whatever
process or machine the launcher puts it, reads that file to nest its run and records what
became of it on the parent run (:func:`record_job`). When the jobs have ended it builds the
report from MLflow. Hydra skips ``on_multirun_end`` when a job failed, so the end is also
hooked on interpreter exit.
"""

from __future__ import annotations

import atexit
import itertools
import json
import secrets
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from augsweep import console, interrupts
from augsweep.errors import EXIT_FAILED, InputError
from augsweep.outcomes import LISTED, UNFINISHED, Outcome
from augsweep.overrides import override_key, run_label
from augsweep.search import SEARCH_SWEEPER
from augsweep.tracking.tags import Tag, job_records
from augsweep.tracking.uri import is_http
from augsweep.worker import frozen_imports

SWEEP_FILE = "sweep.json"
# The report's page linked at the end of a sweep: the first of these logged on the parent.
REPORT_PAGES = ("report.html", "summary.md")
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


@dataclass(frozen=True)
class SweepInfo:
    """What the jobs of a sweep share.

    Attributes:
        sweep_id: Tag ``sweep_id`` of the parent run and of every job's run.
        parent_run_id: The sweep's parent run.
        experiment_id: The MLflow experiment of the sweep.
        tracking_uri: The resolved tracking URI.
        swept_keys: Config keys that vary between the jobs; a job's run is named after
            its policy and its values of these (``flip,seed=1``).
        jobs: Every job's overrides, by job number (empty when the sweeper is not
            Hydra's basic one, whose jobs are known only as they come).
        sweep_key: The sweep's key (tag ``sweep_key`` of the parent run).
        reconnect_wait_s: How long the sweep's end waits for a tracking server that went
            away (``tracking.reconnect_wait_s``; the sweep's start reached it).
    """

    sweep_id: str
    parent_run_id: str
    experiment_id: str
    tracking_uri: str
    swept_keys: tuple[str, ...] = ()
    jobs: tuple[tuple[str, ...], ...] = ()
    sweep_key: str = ""
    reconnect_wait_s: float = 0.0

    def swept_overrides(self, job_overrides: list[str]) -> list[str]:
        """The job's overrides of the swept keys (all of them if none is swept)."""
        swept = [o for o in job_overrides if override_key(o) in self.swept_keys]
        return swept or list(job_overrides)

    def job_name(self, num: int) -> str:
        """Job ``num``'s run name before it runs: its policy, then its swept overrides."""
        job = list(self.jobs[num])
        return run_label(job, self.swept_overrides(job))

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
        fields["jobs"] = tuple(tuple(job) for job in fields.get("jobs", ()))
        return cls(**fields)


def swept_keys(config: DictConfig) -> tuple[str, ...]:
    """Keys swept by the command line (``augment=none,flip``) or ``hydra.sweeper.params``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    keys = [o.get_key_element() for o in overrides if o.is_sweep_override()]
    keys += list(config.hydra.sweeper.get("params") or {})
    return tuple(dict.fromkeys(keys))


def expected_jobs(config: DictConfig) -> tuple[tuple[str, ...], ...]:
    """Every job of a basic-sweeper multirun, by job number, before any job runs.

    Written here because Hydra computes this list inside its private
    ``hydra._internal.core_plugins.basic_sweeper`` only: the same rules (the preset's
    ``hydra.sweeper.params`` first, the command line's overrides after, a later value of
    a key replacing an earlier one in its place; the cartesian product in that order).
    Other sweepers (Optuna, ...) choose their jobs as they go, and a ``glob(...)`` sweep
    needs the config loader: empty (the report then lists the jobs that recorded themselves).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
        return ()
    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    parsed = OverridesParser.create().parse_overrides([*params, *config.hydra.overrides.task])
    axes: dict[str, list[str]] = {}
    try:
        for override in parsed:
            key = override.get_key_element()
            if override.is_sweep_override():
                axes[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
            else:
                axes[key] = [f"{key}={override.get_value_element_as_str()}"]
    except HydraException:  # glob(*) needs Hydra's config loader, which callbacks do not get
        return ()
    return tuple(tuple(job) for job in itertools.product(*axes.values()))


def sweeps_with(run, sweep_id: str) -> str:
    """The run's ``augsweep.sweeps`` tag with ``sweep_id`` added (once; in the order they
    came). A run trained before the tag existed belongs to its ``sweep_id`` too."""
    tags = run.data.tags
    listed = tags.get(Tag.SWEEPS) or tags.get(Tag.SWEEP_ID) or ""
    sweeps = [s for s in listed.split(",") if s]
    return ",".join(dict.fromkeys([*sweeps, sweep_id]))


def new_sweep_id() -> str:
    """A sortable, unique id: ``YYYYmmdd-HHMMSS-xxxxxx``."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def record_job(info: SweepInfo, num: int, record: dict) -> None:
    """Record what became of job ``num`` on the sweep's parent run (tag
    ``augsweep.job.<num>``, JSON): ``overrides``, ``outcome`` (an
    :class:`~augsweep.outcomes.Outcome`), ``run_id``, ``error``, ``seconds``, ``detail``.

    While a tracking server is away the record is kept in the parent run's spool file,
    sent by the next job's start or the sweep's end once it is back
    (:func:`augsweep.tracking.spool.send_or_keep`)."""
    from augsweep.tracking import spool, store

    client = store.connect(info.tracking_uri)
    tags = {f"{Tag.JOB_RECORD}{num}": json.dumps(record)[:8000]}
    spool.send_or_keep(client, {"kind": "tags", "run_id": info.parent_run_id, "tags": tags})


def sweep_progress(info: SweepInfo) -> str | None:
    """``sweep 20261203-...: 5/15 jobs: 5 finished, 0 running, 0 failed, 10 not started; ETA
    1 min 20 s``, from the parent run's job records (those of every process of the sweep);
    None when the store cannot be read now (a server away: the job goes on)."""
    from mlflow.exceptions import MlflowException

    from augsweep.tracking import status, store

    try:
        tags = store.connect(info.tracking_uri).get_run(info.parent_run_id).data.tags
    except (MlflowException, OSError):
        return None
    counts = status.JobCounts.of(job_records(tags), len(info.jobs))
    ended = counts.finished + counts.failed + counts.killed
    total = f"{ended}/{counts.planned}" if info.jobs else f"{ended}"
    line = f"sweep {info.sweep_id}: {total} jobs ended: {counts.text()}"
    eta = counts.eta_s()
    if eta is not None and counts.left and info.jobs:
        line += f"; ETA {console.duration(eta)}"
    return line


def record_lost_job(info: SweepInfo, num: int, reason: str) -> str:
    """Record job ``num`` as killed when its process died mid-job (a launcher saw it die:
    ``kill -9``, the kernel's OOM killer), and close its run, left RUNNING, as KILLED.

    The job's own record (``started``, with its name and overrides) is completed; a job
    that had recorded its end is left as it is.

    Args:
        info: The sweep.
        num: The job's number in the sweep (0-based).
        reason: Why, for the job table: ``its process died: signal 9 (SIGKILL), ...``.

    Returns:
        The job's name, for the console.
    """
    from augsweep.tracking import relaunch, report, store

    client = store.connect(info.tracking_uri)
    tag = f"{Tag.JOB_RECORD}{num}"
    record = json.loads(client.get_run(info.parent_run_id).data.tags.get(tag) or "{}")
    if num < len(info.jobs):
        record.setdefault("name", info.job_name(num))
        record.setdefault("overrides", list(info.jobs[num]))
    name = record.get("name", f"#{num}")
    if record.get("outcome", Outcome.STARTED) != Outcome.STARTED:
        return name
    for run in report.sweep_runs(client, info.sweep_id, [info.experiment_id]):
        if run.info.run_name == name:
            record["run_id"] = run.info.run_id
            if run.info.status == "RUNNING" and not relaunch.owner_alive(run, float("inf")):
                relaunch.reap_run(client, run, reason)
    record_job(info, num, {**record, "outcome": Outcome.KILLED, "error": reason})
    return name


class SweepTracker(Callback):
    """Hydra callback that groups a multirun's jobs under one MLflow parent run."""

    def __init__(self) -> None:
        self.info: SweepInfo | None = None
        self.sweep_dir: Path | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if config.hydra.sweeper.get("_target_") == SEARCH_SWEEPER:  # before any run exists
            from augsweep.search import check_or_exit

            check_or_exit(config)
        console.quiet_library_lines()  # before the store is created; the launcher's job lines
        with frozen_imports():  # MLflow: once the sweep starts
            from augsweep.config.run_key import sweep_key
            from augsweep.tracking import relaunch, store, sync

        sync.prepare_store_or_exit(config.tracking.uri)  # before anything is created
        uri = store.resolve_uri(config.tracking.uri)
        client = store.connect(uri)
        try:
            experiment_id = store.ensure_experiment(client, config.tracking.experiment)
        except InputError as error:  # before any job: one line, its exit code
            print(f"augsweep: {error}", file=sys.stderr, flush=True)
            raise SystemExit(error.exit_code) from None
        reaped = relaunch.reap(client, [experiment_id], config.tracking.stale_after_s)
        for run in reaped:
            print(f"reaped run {run.info.run_id} ({run.info.run_name}): left RUNNING by "
                  f"a dead process ({relaunch.owner_text(run)}), now KILLED")  # fmt: skip
        for job in relaunch.reap_jobs(client, [experiment_id], config.tracking.stale_after_s):
            print(f"reaped {job}")
        self.sweep_dir = Path(config.hydra.sweep.dir).absolute()
        key = sweep_key(
            config, config.hydra.overrides.task, config.hydra.sweeper.get("params") or {}
        )
        jobs = expected_jobs(config)
        tags = {
            Tag.SWEEP_DIR: str(self.sweep_dir),
            # `augsweep status` counts the jobs not started from MLflow alone
            **({Tag.JOBS_PLANNED: str(len(jobs))} if jobs else {}),
            Tag.SWEEP_OVERRIDES: " ".join(config.hydra.overrides.task),
            Tag.REPORT_BASELINE: str(config.report.baseline),
            **store.owner_tags(),
        }
        parent = _reopen_parent(client, experiment_id, key, tags)
        reopened = parent is not None
        if parent is None:
            sweep_id = new_sweep_id()
            tags.update({Tag.SWEEP_ID: sweep_id, Tag.ROLE: "sweep", Tag.SWEEP_KEY: key,
                         **store.source_tags()})  # fmt: skip
            parent = client.create_run(experiment_id, run_name=f"sweep {sweep_id}", tags=tags)
        self.info = SweepInfo(
            parent.data.tags.get(Tag.SWEEP_ID) or tags[Tag.SWEEP_ID],
            parent.info.run_id,
            experiment_id,
            uri,
            swept_keys(config),
            jobs,
            key,
            config.tracking.reconnect_wait_s,
        )
        if reopened:  # its job records say what its last launch left to do
            print(relaunch_text(self.info, parent.data.tags))
        self.info.write(self.sweep_dir)
        # Report and close the parent run on any exit: a failed job (Hydra then skips
        # on_multirun_end), Ctrl-C, or SIGTERM from a scheduler; the first signal stops the
        # sweep, later ones never cut its end short.
        atexit.register(self.finish)
        interrupts.install()

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if self.finish() != "FINISHED":
            raise SystemExit(EXIT_FAILED)  # a job failed (jobs record failures, never raise)

    def finish(self) -> str | None:
        """Build the report, close the parent run and say where everything is (once).

        Returns:
            The parent run's status, or None if the sweep was already finished.
        """
        if self.info is None:
            return None
        info, self.info = self.info, None
        atexit.unregister(self.finish)
        interrupts.begin_shutdown()  # a Ctrl-C now would leave the parent RUNNING
        return finish_sweep(info, self.sweep_dir)


def relaunch_text(info: SweepInfo, last_tags: dict[str, str]) -> str:
    """What a relaunch does, from what its sweep's last launch recorded: the jobs it
    resumes (killed), starts (not started) and tries again (failed), one a line.

    Args:
        info: The sweep.
        last_tags: The parent run's tags as the last launch left them (job records).
    """
    from augsweep.tracking import report

    names = [info.job_name(num) for num in range(len(info.jobs))]
    lines = [f"relaunch of sweep {info.sweep_id}: finished runs are skipped, killed ones resumed"]
    verbs = {Outcome.KILLED: "resumes", Outcome.NOT_STARTED: "starts", Outcome.FAILED: "retries"}
    for job in report.job_table(last_tags, names):
        if job["outcome"] in verbs:
            why = f": {job['error']}" if job["error"] else ""
            lines.append(f"  {verbs[job['outcome']]} job {job['job'] + 1} {job['name']} "
                         f"({job['outcome']} in its last launch{why})")  # fmt: skip
    return "\n".join(lines)


def _reopen_parent(client, experiment_id: str, key: str, tags: dict):
    """The parent run of an earlier launch of the same sweep, set RUNNING again, or None."""
    parents = client.search_runs(
        [experiment_id],
        filter_string=f"tags.{Tag.SWEEP_KEY} = '{key}' and tags.`{Tag.ROLE}` = 'sweep'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not parents:
        return None
    parent = parents[0]
    client.update_run(parent.info.run_id, status="RUNNING")
    if Tag.ERROR in parent.data.tags:
        client.delete_tag(parent.info.run_id, Tag.ERROR)
    for name, value in tags.items():
        client.set_tag(parent.info.run_id, name, value)
    return parent


def finish_sweep(info: SweepInfo, sweep_dir: Path) -> str:
    """End a sweep: close orphaned job runs, build the report, close the parent run.

    Args:
        info: The sweep.
        sweep_dir: Hydra's sweep directory, where the report is written.

    Returns:
        The parent run's status (FINISHED, FAILED or KILLED).
    """
    from augsweep.tracking import relaunch, report, store

    client = store.connect(info.tracking_uri)
    if not _store_back(info):
        return _keep_end(client, info)
    for run in report.sweep_runs(client, info.sweep_id, [info.experiment_id]):
        if run.info.status == "RUNNING" and not relaunch.owner_alive(run, float("inf")):
            relaunch.reap_run(client, run, "its job ended without closing it")
    names = [info.job_name(num) for num in range(len(info.jobs))]
    sweep = report.collect(client, info.sweep_id, [info.experiment_id], job_names=names,
                           parent_run_id=info.parent_run_id)  # fmt: skip
    paths: list[Path] = []
    answers: list[str] = []
    try:  # the parent run ends with its jobs' status even if the report cannot be written
        runs_list = describe_runs(info, sweep.jobs)
        client.set_tag(info.parent_run_id, Tag.NOTE, runs_list)
        built = report.for_sweep(client, sweep, sweep_dir)
        paths = built.paths
        for path in paths:
            client.log_artifact(info.parent_run_id, str(path))
        answers = report.answer_lines(built.analysis)
        _log_group_metrics(client, info.parent_run_id, built.analysis)
        _share_view(client, info)
        verdict = describe_verdict(info, built.analysis, [path.name for path in paths])
        client.set_tag(info.parent_run_id, Tag.NOTE, f"{verdict}\n\n{runs_list}")
    finally:
        status = sweep_status(sweep.jobs)
        client.set_terminated(info.parent_run_id, status)
    _print_summary(info, sweep.jobs, sweep_dir if paths else None, [path.name for path in paths],
                   answers)  # fmt: skip
    return status


def _log_group_metrics(client, parent_run_id: str, analysis) -> None:
    """Per group, on the parent run: each compared metric's mean (``mean_test_accuracy/flip``)
    and its paired difference from the baseline (``diff_test_accuracy/flip``), at the runs'
    summary step, so that the sweep run's overview lists them and its Model metrics tab
    charts them (a section per metric, a bar per group)."""
    from mlflow.entities import Metric

    from augsweep.metrics import COMPARED, SUMMARY_STEP
    from augsweep.tracking.stats import short_label

    now = int(time.time() * 1000)
    values = {}
    for group in analysis.groups:
        for metric in COMPARED:
            if group.stats[metric].n:
                values[metric_name(f"mean_{metric}", short_label(group))] = group.stats[metric].mean
    for comparison in analysis.comparisons:
        for result in comparison.paired:
            if result.diff.n:
                name = metric_name(f"diff_{result.metric}", short_label(comparison.group))
                values[name] = result.diff.mean
    metrics = [Metric(key, value, now, SUMMARY_STEP) for key, value in values.items()]
    client.log_batch(parent_run_id, metrics=metrics)


def metric_name(metric: str, group: str) -> str:
    """``metric/group`` as MLflow takes a metric's name (letters, digits, ``_ - . : /`` and
    spaces only): ``k=v`` as ``k:v``, groups' commas as spaces, anything else as ``_``
    (``mean_final_gap/flip trainer.learning_rate:0.001``)."""
    text = f"{metric}/{group.replace('=', ':').replace(',', ' ')}"
    return "".join(c if c.isalnum() or c in "_-.:/ " else "_" for c in text)


def _share_view(client, info: SweepInfo) -> None:
    """The sweep's view of the runs page as an experiment tag, opened by the printed link."""
    from augsweep.tracking.ui import VIEW_TAG, sweep_view, sweep_view_key

    key = VIEW_TAG + sweep_view_key(info.sweep_id)
    client.set_experiment_tag(info.experiment_id, key, sweep_view(info.sweep_id, info.swept_keys))


def describe_verdict(info: SweepInfo, analysis, logged: list[str]) -> str:
    """The top of the parent run's description (Markdown): the answer per policy, the
    verdict table, and a link to the report's page.

    Args:
        info: The sweep.
        analysis: The report's :class:`augsweep.tracking.stats.Analysis`.
        logged: The file names logged on the parent run.
    """
    from augsweep.tracking.report import verdict_markdown

    lines = ["**Does the augmentation help, and is the model still overfitting?**", ""]
    lines += verdict_markdown(analysis)
    page = next((name for name in REPORT_PAGES if name in logged), "")
    if page:  # relative to the UI's own address, wherever it is served
        url = f"#/experiments/{info.experiment_id}/runs/{info.parent_run_id}/artifacts/{page}"
        lines += ["", f"The whole report: [{page}]({url}) (plots, per-group means, every run)."]
    return "\n".join(lines)


def describe_runs(info: SweepInfo, jobs: list[dict]) -> str:
    """The parent run's description (Markdown, on its overview in the UI): every job's run
    with a link, those reused from earlier marked, and the filter that lists them all.

    A run has one MLflow parent: the runs this sweep reused (skipped as done, trained by an
    earlier launch or another sweep) are nested elsewhere, but tagged with this sweep in
    ``augsweep.sweeps``.
    """
    lines = [
        f"**Sweep {info.sweep_id}**: {len(jobs)} jobs. Its runs, reused ones included, in the "
        f"runs table: search ``tags.`{Tag.SWEEPS}` LIKE '%{info.sweep_id}%'``.",
        "",
    ]
    for job in jobs:
        where = ""
        if job["run_id"]:  # a link relative to the UI's own address, wherever it is served
            url = f"#/experiments/{info.experiment_id}/runs/{job['run_id']}"
            where = f": [run {job['run_id'][:8]}]({url})"
        reused = " (reused: trained before)" if job["outcome"] == Outcome.SKIPPED else ""
        lines.append(f"- job {job['job'] + 1} `{job['name']}`: {job['outcome']}{reused}{where}")
    return "\n".join(lines)


def _store_back(info: SweepInfo) -> bool:
    """Whether the sweep's tracking server answers, waited for at most
    ``info.reconnect_wait_s`` (it answered at the sweep's start); if it does, what was kept
    while it was away (job records, runs' ends) is sent first. True for a SQLite store."""
    from augsweep.tracking import probe, sync

    uri = info.tracking_uri
    if not is_http(uri):
        return True
    if not probe.server_healthy(uri):
        wait = f"at most {info.reconnect_wait_s:.0f} s (tracking.reconnect_wait_s)"
        print(f"the tracking server {uri} does not answer: the sweep's end waits for it, {wait}")
        signals = interrupts.received()  # a Ctrl-C now ends the wait: the end is kept

        def interrupted() -> bool:
            return interrupts.received() > signals

        if not probe.wait_for_server(uri, info.reconnect_wait_s, give_up=interrupted):
            return False
    sync.replay_for_launch(uri)
    return True


def _keep_end(client, info: SweepInfo) -> str:
    """The sweep's end while its server stays away: the parent run's end (FAILED: its jobs
    and report cannot be read) kept in its spool, so that ``augsweep sync`` or the next
    launch closes it; no report.

    Returns:
        The parent's status: FAILED.
    """
    from augsweep.tracking import spool

    rebuild = f"`augsweep report --sweep-id {info.sweep_id}` builds it once it is back"
    error = (
        f"the tracking server {info.tracking_uri} was away at the sweep's end: no report; {rebuild}"
    )
    end = {"kind": "end", "run_id": info.parent_run_id, "status": "FAILED", "error": error,
           "end_time": int(time.time() * 1000)}  # fmt: skip
    spool.send_or_keep(client, end)
    kept = f"the sweep's records are kept in {spool.spool_dir()}"
    sent = "`augsweep sync` (or the next launch against it) sends them"
    print(f"augsweep: {error}; {kept} until {sent}", file=sys.stderr, flush=True)
    return "FAILED"


def sweep_status(jobs: list[dict]) -> str:
    """The parent run's status: KILLED if a job was killed or never started, FAILED if one
    failed, else FINISHED."""
    outcomes = {job["outcome"] for job in jobs}
    if outcomes & set(UNFINISHED):
        return "KILLED"
    if Outcome.FAILED in outcomes:
        return "FAILED"
    return "FINISHED" if jobs else "FAILED"


def _print_summary(
    info: SweepInfo,
    jobs: list[dict],
    report_dir: Path | None,
    logged: list[str] = (),
    answers: list[str] = (),
) -> None:
    """Say what became of the jobs, the answer per policy, where the report is, and where to
    look in the UI.

    Args:
        info: The sweep.
        jobs: The job table.
        report_dir: Where the report was written (None: no report).
        logged: The file names logged on the parent run.
        answers: The one-line answer per policy.
    """
    from augsweep.tracking.ui import sweep_view_key, where_to_look

    ended = [outcome for outcome in Outcome if outcome is not Outcome.STARTED]
    counts = {outcome: sum(j["outcome"] == outcome for j in jobs) for outcome in ended}
    shown = ", ".join(f"{outcome} {n}" for outcome, n in counts.items() if n)
    print(f"\nSweep {info.sweep_id}: {len(jobs)} jobs: {shown or 'none ran'}")
    for job in jobs:
        if job["outcome"] in LISTED:
            why = f": {job['error']}" if job["error"] else ""
            print(f"  job {job['job'] + 1} {job['name']}: {job['outcome']}{why}")
    if answers:
        print("Answer per policy (vs the baseline, paired by seed; test accuracy decides):")
    for line in answers:
        print(f"  {line}")
    if report_dir:
        print(f"Report: {report_dir / 'summary.md'} (and comparison_*.png, summary.csv)")
    shown_file = next((name for name in REPORT_PAGES if name in logged), "")
    view = sweep_view_key(info.sweep_id) if report_dir else ""
    print(where_to_look(info.tracking_uri, info.experiment_id, info.parent_run_id,
                        "sweep run", shown_file, view))  # fmt: skip
