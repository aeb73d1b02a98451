"""``hydra/sweeper=search``: augsweep's own sweeper, a search over augmentation policies on
current Optuna (ask/tell), then the winners proven over seeds.

Written here because Hydra's Optuna sweeper (hydra-optuna-sweeper 1.3) pins ``optuna<3``,
has no pruning and waits for whole batches. This one:

- asks the study for a trial and launches it as one job through the configured launcher
  (basic, joblib, SLURM), keeping ``n`` single-job launches in flight (``n``: the
  launcher's ``n_jobs`` or ``array_parallelism``, 1 for the basic launcher), so that a
  finished or pruned trial's slot takes the next trial at once;
- reads the trial's result from its job record on the search's parent run (the same
  record every job writes: outcome, summary) and tells the study;
- keeps the study in ``search.storage`` (default: an Optuna journal file in the sweep
  folder), named after the search's key: a relaunch of the same command continues to
  ``search.trials`` in total, resuming first the trials its last launch left RUNNING
  (same trial, same job number, same run key: the run resumes from its checkpoint);
- then retrains the ``search.top_k`` best policies with ``search.confirm_seeds`` seeds,
  beside ``none``, ``trivialaugment`` and ``search.compare``; the report
  (:mod:`augsweep.tracking.search_report`) compares them, Holm-corrected.
"""

# No `from __future__ import annotations`: Hydra execs plugin modules outside sys.modules,
# where dataclasses cannot resolve string annotations.
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig

log = logging.getLogger(__name__)
BASELINES = ("none", "trivialaugment")


@dataclass
class SearchSweeperConf:
    """``hydra/sweeper=search``: every setting is in the job config's ``search`` node."""

    _target_: str = "hydra_plugins.augsweep_launchers.search_sweeper.SearchSweeper"


ConfigStore.instance().store(
    group="hydra/sweeper", name="search", node=SearchSweeperConf, provider="augsweep"
)


@dataclass
class Work:
    """One job to launch: its number in the sweep, its overrides, and what to do with its
    record once it ended (``done(record)``)."""

    num: int
    overrides: list[str]
    done: Callable[[dict], None] = lambda record: None


class SearchSweeper(Sweeper):
    """Ask, launch one job per trial in ``n`` slots, tell; then confirm the winners."""

    def __init__(self) -> None:
        self.config: DictConfig | None = None
        self.launcher = None
        self.space = None
        self.idle_s = 0.0
        self.busy_s = 0.0
        self._lock = threading.Lock()

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        from augsweep.search import check_or_exit

        # (SweepTracker checked it already, before the sweep's parent run was created)
        self.space, self.passed = check_or_exit(config)

    def sweep(self, arguments: list[str]) -> Any:
        from augsweep import search
        from augsweep.tracking.sweep import SweepInfo

        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        info = SweepInfo.read(sweep_dir)
        if info is None:
            raise SystemExit("augsweep: hydra/sweeper=search needs the SweepTracker callback")
        cfg = self.config.search
        url = search.storage_url(cfg.storage, sweep_dir)
        study = search.load_study(cfg, info.sweep_key, url, create=True)
        self.client = _client(info)
        self.info = info
        self.client.set_tag(info.parent_run_id, "augsweep.search.study", study.study_name)
        self.client.set_tag(info.parent_run_id, "augsweep.search.storage", url)
        common = [*self.passed, f"search.storage='{url}'"]
        started = time.monotonic()
        self._run(self._trials(study, common), self.slots())
        done = [t for t in study.trials if t.state.is_finished()]
        if len(done) >= cfg.trials and not _stopping():
            self._run(deque(self._confirmations(study, common)), self.slots())
        wall = time.monotonic() - started
        print(f"search: {len(done)}/{cfg.trials} trials done; slots busy {self.busy_s:.0f} s, "
              f"idle {self.idle_s:.0f} s between jobs ({self.slots()} slot(s), "
              f"{wall:.0f} s)", flush=True)  # fmt: skip
        _log_idle(self.client, info.parent_run_id, self.busy_s, self.idle_s, wall)

    def slots(self) -> int:
        """How many jobs the launcher runs at once: ``n_jobs`` (joblib), ``array_parallelism``
        (submitit), else 1."""
        launcher = self.config.hydra.launcher
        n = launcher.get("n_jobs") or launcher.get("array_parallelism") or 1
        if n == -1:
            import os

            n = os.cpu_count() or 1
        return max(1, int(n))

    def _trials(self, study, common: list[str]):
        """The trials' work, as a queue that asks the study for the next trial when taken:
        first those its last launch left RUNNING (resumed), then new ones up to
        ``search.trials`` in total."""
        from optuna.trial import TrialState

        from augsweep import search

        total = self.config.search.trials
        left = deque(t for t in study.trials if t.state == TrialState.RUNNING)
        for trial in left:
            print(f"search: resumes trial {trial.number} (left running by its last launch)")

        def take() -> Work | None:
            with self._lock:
                if left:
                    frozen = left.popleft()
                    number, policy = (
                        frozen.number,
                        search.policy_from_params(frozen.params, self.space),
                    )
                elif len(study.trials) < total and not _stopping():
                    trial = study.ask()
                    number, policy = trial.number, search.suggest(trial, self.space)
                else:
                    return None
            items = [*common, *search.overrides(policy), f"search.trial={number}",
                     "search.role=trial"]  # fmt: skip
            return Work(number, items, lambda record: self._tell(study, number, record))

        return take

    def _tell(self, study, number: int, record: dict) -> None:
        """Tell the study what became of trial ``number`` (from its job record)."""
        from optuna.trial import TrialState

        from augsweep.outcomes import Outcome

        outcome, summary = record.get("outcome"), record.get("summary") or {}
        objective = self.config.search.objective
        with self._lock:
            if outcome == Outcome.PRUNED:
                study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
            elif outcome in (Outcome.TRAINED, Outcome.RESUMED, Outcome.SKIPPED) and summary:
                values = {
                    "accuracy": [summary["final_val_accuracy"]],
                    "gap": [summary["final_gap"]],
                    "both": [summary["final_val_accuracy"], summary["final_gap"]],
                }
                study.tell(number, values[objective], skip_if_finished=True)  # fmt: skip
            elif outcome == Outcome.FAILED:
                study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
            # killed, elsewhere: left RUNNING, resumed by the next launch

    def _confirmations(self, study, common: list[str]) -> list[Work]:
        """The top ``search.top_k`` policies, ``none``, ``trivialaugment`` and
        ``search.compare``, each with seeds 0 .. ``search.confirm_seeds`` - 1."""
        from augsweep import search

        cfg = self.config.search
        policies = [search.overrides(search.policy_from_params(t.params, self.space))
                    for t in top_trials(study, cfg.objective, cfg.top_k)]  # fmt: skip
        if not policies:
            return []
        policies += [[f"augment={name}"] for name in dict.fromkeys([*BASELINES, cfg.compare])]
        work = []
        for policy in policies:
            for seed in range(cfg.confirm_seeds):
                items = [*common, *policy, f"seed={seed}", "search.role=confirm"]
                work.append(Work(cfg.trials + len(work), items))
        return work

    def _run(self, take, n: int) -> None:
        """Launch the work ``n`` jobs at a time, each slot taking the next job as soon as its
        own has ended; with one slot, in this thread (the basic launcher runs jobs here)."""
        if isinstance(take, deque):
            queue = take
            take = lambda: queue.popleft() if queue and not _stopping() else None  # noqa: E731
        if n == 1:
            self._slot(take)
            return
        threads = [threading.Thread(target=self._slot, args=(take,), daemon=True)
                   for _ in range(n)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)  # a short wait: Ctrl-C reaches this thread

    def _slot(self, take) -> None:
        """One slot: launch the next job, read its record, hand it on; repeat."""
        ended = None
        while (work := take()) is not None:
            began = time.monotonic()
            if ended is not None:
                with self._lock:
                    self.idle_s += began - ended
            self.launcher.launch([work.overrides], initial_job_idx=work.num)
            ended = time.monotonic()
            with self._lock:
                self.busy_s += ended - began
            work.done(self._record(work.num))

    def _record(self, num: int) -> dict:
        """Job ``num``'s record on the parent run (what became of it), with its run's
        summary metrics."""
        from augsweep.tracking.tags import Tag

        tags = self.client.get_run(self.info.parent_run_id).data.tags
        record = json.loads(tags.get(f"{Tag.JOB_RECORD}{num}") or "{}")
        if record.get("run_id"):  # the objective: the run's summary metrics
            record["summary"] = dict(self.client.get_run(record["run_id"]).data.metrics)
        return record


def top_trials(study, objective: str, k: int) -> list:
    """The ``k`` best completed trials, one per policy: by final validation accuracy, by
    gap, or (``both``) the Pareto front by accuracy."""
    from optuna.trial import TrialState

    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if objective == "both":
        ranked = sorted(study.best_trials, key=lambda t: -t.values[0])
    else:
        sign = -1 if objective == "accuracy" else 1
        ranked = sorted(done, key=lambda t: sign * t.values[0])
    chosen, seen = [], set()
    for trial in ranked:
        key = json.dumps(trial.params, sort_keys=True)
        if key not in seen:
            seen.add(key)
            chosen.append(trial)
    return chosen[:k]


def _stopping() -> bool:
    from augsweep import interrupts

    return interrupts.stopping()


def _client(info):
    from augsweep.tracking import store

    return store.connect(info.tracking_uri)


def _log_idle(client, run_id: str, busy: float, idle: float, wall: float) -> None:
    """The slots' use, as metrics of the search's parent run."""
    now = int(time.time() * 1000)
    from mlflow.entities import Metric

    values = {"search_slot_busy_s": busy, "search_slot_idle_s": idle, "search_wall_s": wall}
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in values.items()])
