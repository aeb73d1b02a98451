"""A search's report (``hydra/sweeper=search``): the search (optimisation history, Optuna's
parameter importances, the Pareto front in the two-objective mode, the top-k table, what
pruning saved), then the proof: each winner against ``none``, ``trivialaugment`` and
``search.compare``, paired by seed, Holm-corrected over the winners compared with each.

Its ``report.html`` replaces the grid page that :func:`augsweep.tracking.report.for_sweep`
wrote for the confirmation runs (whose other files, ``summary.csv`` ..., stay).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from augsweep.tracking import report_html, stats
from augsweep.tracking.report_files import (
    REPORT_HTML,
    RunRecord,
    _job_rows,
    _runs_table,
    answer_lines,
    sweep_command,
    verdict_cells,
)
from augsweep.tracking.tags import Tag

HISTORY_PLOT = "search_history.png"
IMPORTANCE_PLOT = "search_importances.png"
PARETO_PLOT = "search_pareto.png"
CONFIRM = "search.role=confirm"


def confirmation_records(records: Sequence[RunRecord], jobs: Sequence[dict]) -> list[RunRecord]:
    """The runs of the confirmation jobs, grouped by their policy's name (``augment`` tag)."""
    confirm = {job["run_id"] for job in jobs if CONFIRM in job["override_list"]}
    return [
        RunRecord(r.run, r.history, {"augment": r.run.data.tags.get(Tag.AUGMENT, "")})
        for r in records
        if r.run.info.run_id in confirm
    ]


def write_page(client, sweep, records: Sequence[RunRecord], out_dir: Path, paths: list[Path]):
    """Write the search's ``report.html`` (and its plots) into ``out_dir``.

    Args:
        client: Client of the tracking store.
        sweep: The search's :class:`~augsweep.tracking.report.SweepRuns`.
        records: The confirmation runs (:func:`confirmation_records`).
        out_dir: The report's folder.
        paths: The files already written there.

    Returns:
        ``paths`` with the search's plots added.
    """
    tags = sweep.parent_tags
    study, problem = _study(tags)
    notes, figures, tables = [], [], []
    if study is None:
        notes.append(f"The study could not be read ({problem}): no search section.")
    else:
        figures = [_history(study, out_dir / HISTORY_PLOT)]
        importance = _importances(study, out_dir / IMPORTANCE_PLOT)
        figures += [importance] if isinstance(importance, Path) else []
        notes += [importance] if isinstance(importance, str) else []
        if len(study.directions) == 2:
            figures.append(_pareto(study, out_dir / PARETO_PLOT))
        tables.append(("Search: the best trials", *_top_table(study)))
        notes.append(_trial_counts(study, sweep.runs))
    winners, bases = _winners_and_baselines(records, sweep.jobs)
    rows = [r.stats_row for r in records]
    answers = []
    for base in bases:
        chosen = [r for r in rows if r["settings"]["augment"] in (*winners, base)]
        analysis = stats.analyze(chosen, baseline=base)
        header, cells = verdict_cells(analysis)
        tables.insert(len(answers), (f"Verdict: each winner vs {base} (paired by seed)", header,
                                     cells))  # fmt: skip
        answers += [f"vs {base}: {line}" for line in answer_lines(analysis)]
        notes += analysis.notes
    page = report_html.render(
        title=f"search {sweep.sweep_id}",
        intro=_intro(tags),
        answers=answers,
        tables=tables,
        notes=list(dict.fromkeys(notes)),
        figures=[f for f in figures if f is not None],
        runs=_runs_table([r.row for r in records]),
        jobs=_job_rows(sweep.jobs),
        command=sweep_command(tags) if tags.get(Tag.SWEEP_OVERRIDES) else "",
    )
    (out_dir / REPORT_HTML).write_text(page)
    return [*paths, *(f for f in figures if f is not None)]


def _study(tags):
    """The search's study from its storage, or ``(None, why)``."""
    try:
        import optuna

        from augsweep.search import open_storage

        storage = open_storage(tags[Tag.SEARCH_STORAGE])
        return optuna.load_study(study_name=tags[Tag.SEARCH_STUDY], storage=storage), ""
    except Exception as error:  # a report without its study still shows the proof
        return None, str(error).splitlines()[0] if str(error) else type(error).__name__


def _winners_and_baselines(records: Sequence[RunRecord], jobs) -> tuple[list[str], list[str]]:
    """The winners' names (policies the search composed) and the baselines' (``none``,
    ``trivialaugment``, ``search.compare``: options named by ``augment=``)."""
    bases = [
        item.removeprefix("augment=")
        for job in jobs
        if CONFIRM in job["override_list"] and "augment=compose" not in job["override_list"]
        for item in job["override_list"]
        if item.startswith("augment=")
    ]
    bases = list(dict.fromkeys(bases))  # a winner that is a baseline (none) is compared as it
    names = list(dict.fromkeys(r.settings["augment"] for r in records))
    return [n for n in names if n not in bases], [n for n in bases if n in names]


def _intro(tags) -> list[str]:
    return [
        "The search's trials are jobs like any other (nested runs, tags "
        f"{Tag.SEARCH_TRIAL} and {Tag.SEARCH_STUDY}); the objective is the final epoch's "
        "validation accuracy (or the gap, or both: the Pareto front), not the best epoch's. "
        "A pruned trial stopped early (tag augsweep.pruned_at_epoch): it is counted here, "
        "and kept out of every mean.",
        "The best policies were retrained with several seeds, beside none, trivialaugment and "
        "the compared option; each winner is paired by seed with each of them (paired "
        "t-test). A search compares many things, so each metric's p-values over the winners "
        "compared with one baseline are Holm-corrected: the verdict is decided by the "
        "adjusted p; the 95% CIs shown are unadjusted.",
    ]


def _trial_counts(study, runs) -> str:
    """How many trials ended how, and the trial-epochs pruning saved."""
    from optuna.trial import TrialState

    counts = {s: sum(t.state == s for t in study.trials) for s in TrialState}
    epochs = max((len(t.intermediate_values) for t in study.trials), default=0)
    run_epochs = sum(len(t.intermediate_values) for t in study.trials)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    saved = sum(max(0, epochs - len(t.intermediate_values)) for t in pruned)
    return (
        f"Trials: {len(study.trials)} ({counts[TrialState.COMPLETE]} complete, "
        f"{counts[TrialState.PRUNED]} pruned, {counts[TrialState.FAIL]} failed, "
        f"{counts[TrialState.RUNNING]} running); {run_epochs} trial-epochs run, "
        f"{saved} saved by pruning (trials run to {epochs} epochs without it)."
    )


def _top_table(study) -> tuple[list[str], list[list[str]]]:
    """The completed trials, best first: number, policy, objective value(s)."""
    from optuna.trial import TrialState

    from augsweep.search import label

    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    two = len(study.directions) == 2
    done.sort(key=lambda t: -t.values[0] if study.directions[0].name == "MAXIMIZE" else t.values[0])
    header = ["trial", "policy", "final val. acc." if study.directions[0].name == "MAXIMIZE"
              else "final gap"] + (["final gap"] if two else [])  # fmt: skip
    rows = []
    for trial in done[:10]:
        policy = {"use": [k.removeprefix("use.") for k, v in trial.params.items() if
                          k.startswith("use.") and v]}  # fmt: skip
        policy |= {k: v for k, v in trial.params.items() if not k.startswith("use.")}
        rows.append([str(trial.number), trial.user_attrs.get("label") or label(policy),
                     *(f"{v:.4f}" for v in trial.values)])  # fmt: skip
    return header, rows


def _history(study, path: Path) -> Path:
    """Each trial's objective (pruned ones at their last reported value) and the best so far."""
    from optuna.trial import TrialState

    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.add_subplot()
    maximize = study.directions[0].name == "MAXIMIZE"
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED and t.intermediate_values]
    ax.scatter([t.number for t in done], [t.values[0] for t in done], label="complete")
    ax.scatter([t.number for t in pruned],
               [t.intermediate_values[max(t.intermediate_values)] for t in pruned],
               marker="x", color="gray", label="pruned (last value)")  # fmt: skip
    best, line = None, []
    for trial in sorted(done, key=lambda t: t.number):
        value = trial.values[0]
        best = value if best is None else (max(best, value) if maximize else min(best, value))
        line.append((trial.number, best))
    if line:
        ax.step(*zip(*line, strict=True), where="post", color="C1", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("final val. accuracy" if maximize else "final gap")
    ax.set_title("Optimisation history")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100)
    return path


def _importances(study, path: Path) -> Path | str:
    """Optuna's parameter importances (fANOVA) as bars, or why there are none."""
    import optuna

    try:
        importances = optuna.importance.get_param_importances(study, target=_first_value(study))
    except (ValueError, RuntimeError) as error:
        return f"No parameter importances: {str(error).splitlines()[0]}"
    if not importances:
        return "No parameter importances: the study has no completed trial with parameters."
    fig = Figure(figsize=(7, 0.4 * len(importances) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    names = list(importances)[::-1]
    ax.barh(names, [importances[n] for n in names])
    ax.set_xlabel("importance (Optuna, fANOVA)")
    ax.set_title("Parameter importances")
    fig.savefig(path, dpi=100)
    return path


def _first_value(study):
    return (lambda t: t.values[0]) if len(study.directions) == 2 else None


def _pareto(study, path: Path) -> Path:
    """Accuracy against gap for every completed trial, the Pareto front marked."""
    from optuna.trial import TrialState

    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    front = {t.number for t in study.best_trials}
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    for on, style in ((False, {"color": "gray", "alpha": 0.5}), (True, {"color": "C3"})):
        chosen = [t for t in done if (t.number in front) == on]
        ax.scatter([t.values[1] for t in chosen], [t.values[0] for t in chosen],
                   label="Pareto front" if on else "dominated", **style)  # fmt: skip
    ax.set_xlabel("final gap (lower is better)")
    ax.set_ylabel("final val. accuracy")
    ax.set_title("Pareto front: accuracy up, gap down")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100)
    return path
