"""``hydra/sweeper=search`` end to end: a 12-trial search on digits, SIGKILLed midway and
relaunched, pruning, the winner retrained over seeds beside the baselines, and the report
with its Holm-corrected verdict (real processes, a real SQLite store, the Optuna journal)."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from tests.helpers import SMALL, run_cli, signal_at_epoch

TRIALS = 12


def search_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "train.py", "-m", "hydra/sweeper=search", f"search.trials={TRIALS}", "search.top_k=1",
        "search.confirm_seeds=2", "search.startup_trials=2", "search.warmup_epochs=0",
        "search.space.use=[flip,rotation,erasing]", "search.space.rotation=interval(0,0.3)",
        *SMALL, "trainer.epochs=3", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        f"hydra.sweep.dir={tmp_path}/multirun", *extra,
    ]  # fmt: skip


def the_study(tmp_path: Path) -> optuna.Study:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(str(tmp_path / "multirun" / "optuna.journal")))
    (name,) = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def runs_by_role(tmp_path: Path, role: str) -> list:
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    return client.search_runs(
        ["1"], filter_string=f"tags.`augsweep.search.role` = '{role}'", max_results=1000
    )


@pytest.mark.slow
def test_a_search_killed_midway_resumes_to_its_budget_prunes_and_proves_its_winner(tmp_path):
    args = search_args(tmp_path)
    # SIGKILL the whole search while its 4th trial trains (after its first epoch).
    code, output = signal_at_epoch(args, f"sqlite:///{tmp_path}/mlflow.db", signal.SIGKILL,
                                   run=3, epochs=1, timeout=400)  # fmt: skip
    assert code == -signal.SIGKILL, output
    started = len(the_study(tmp_path).trials)
    assert 4 <= started < TRIALS

    relaunched = run_cli(*args, timeout=900)
    assert relaunched.returncode == 0, relaunched.stdout[-3000:] + relaunched.stderr[-3000:]
    resumed = [line for line in relaunched.stdout.splitlines() if "search: resumes trial" in line]
    assert len(resumed) == 1, relaunched.stdout[:3000]  # the trial killed with the search

    study = the_study(tmp_path)
    assert len(study.trials) == TRIALS  # the count continued: never past the budget
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, [t.intermediate_values for t in study.trials]

    trial_runs = runs_by_role(tmp_path, "trial")
    numbers = [int(r.data.tags["augsweep.search.trial"]) for r in trial_runs]
    assert len(numbers) == len(set(numbers))  # a trial is never counted twice
    assert {r.info.status for r in trial_runs} == {"FINISHED"}
    parent_id = trial_runs[0].data.tags["mlflow.parentRunId"]
    assert {r.data.tags["mlflow.parentRunId"] for r in trial_runs} == {parent_id}
    pruned_runs = [r for r in trial_runs if "augsweep.pruned_at_epoch" in r.data.tags]
    assert pruned_runs and all(
        int(r.data.tags["augsweep.pruned_at_epoch"]) < 3 for r in pruned_runs
    )
    named = {r.info.run_name for r in trial_runs}
    assert any("rotation(0." in name or "erasing(0." in name for name in named), named

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    parent = client.get_run(parent_id)
    jobs = {
        int(key.removeprefix("augsweep.job.")): json.loads(value)
        for key, value in parent.data.tags.items()
        if key.removeprefix("augsweep.job.").isdigit()
    }
    records = list(jobs.values())
    trials = {n: r for n, r in jobs.items() if "search.role=trial" in r["overrides"]}
    assert sorted(trials) == list(range(TRIALS))  # job number = trial number
    outcomes = [r["outcome"] for r in trials.values()]
    assert set(outcomes) <= {"trained", "resumed", "skipped", "pruned"}  # a repeated policy:
    assert outcomes.count("pruned") == len(pruned)  # its run reused (skipped, or pruned)
    # the trial killed with the search, resumed in its own run (then finished or pruned)
    assert [r for r in trial_runs if "augsweep.resumed" in r.data.tags], outcomes
    confirm = [r for r in records if "search.role=confirm" in r["overrides"]]
    policies = {next(o for o in r["overrides"] if o.startswith("augment=")) for r in confirm}
    assert policies == {"augment=compose", "augment=none", "augment=trivialaugment",
                        "augment=flip_rot_zoom"}  # fmt: skip
    assert len(confirm) == 4 * 2  # the winner and three baselines, two seeds each
    assert parent.info.status == "FINISHED"

    page = Path(client.download_artifacts(parent_id, "report.html", str(tmp_path))).read_text()
    assert (
        "Verdict: each winner vs none" in page and "Verdict: each winner vs trivialaugment" in page
    )
    assert "Holm" in page and "unadjusted" in page
    assert "Optimisation history" in page or "search_history" in page
    assert f"{len(pruned)} pruned" in page

    again = run_cli(*args, timeout=600)  # a third launch: nothing left to search
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert len(the_study(tmp_path).trials) == TRIALS


def test_a_bad_search_value_is_refused_before_any_run(tmp_path):
    result = run_cli(*search_args(tmp_path, "search.pruner=sometimes", "seed=range(2)"))
    assert result.returncode == 2, result.stderr
    assert "search.pruner=sometimes: use one of median, halving, none" in result.stderr
    assert "seed=range(2): a search sweeps only search.space.*" in result.stderr
    db = tmp_path / "mlflow.db"
    assert not db.exists() or _runs(db) == 0


def _runs(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
