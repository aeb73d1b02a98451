"""The report's files, written from the runs the report collected (:mod:`.report`); no
MLflow query here.

Every report writes :data:`REPORT_FILES` (in that order): ``comparison_accuracy.png``,
``comparison_loss.png``, ``summary.csv`` (runs), ``summary_groups.csv`` (groups, intervals,
paired differences, verdicts), ``summary.md`` and ``report.html`` (one self-contained page,
:mod:`.report_html`); ``differences.png`` (:data:`FOREST_FILE`) only with a paired
comparison.
"""

from __future__ import annotations

import csv
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from augsweep import metrics, plots
from augsweep.tracking import report_html, stats
from augsweep.tracking.tags import Tag

if TYPE_CHECKING:
    from mlflow.entities import Run

COLUMNS = (
    "run_name", "augment", "seed", "status", "best_val_accuracy", "best_epoch",
    "final_clean_accuracy", "final_val_accuracy", "final_gap", "test_accuracy", "epochs",
    "duration_s", "group", "error", "run_id", "keras_backend",
)  # fmt: skip
# report.html's runs table: narrower (the rest is in summary.csv), to fit MLflow's frame.
PAGE_COLUMNS = (
    "run_name", "seed", "keras_backend", "status", "best_val_accuracy", "best_epoch",
    "final_clean_accuracy",
    "final_val_accuracy", "final_gap", "test_accuracy", "epochs", "error",
)  # fmt: skip
PAGE_HEADERS = {
    "run_name": "run", "best_val_accuracy": "best val. acc.", "best_epoch": "best epoch",
    "final_clean_accuracy": "final clean-train acc.", "final_val_accuracy": "final val. acc.",
    "final_gap": "final gap", "test_accuracy": "test acc.", "keras_backend": "backend",
}  # fmt: skip
ACCURACY_PLOT = "comparison_accuracy.png"
LOSS_PLOT = "comparison_loss.png"
RUNS_CSV = "summary.csv"
GROUPS_CSV = "summary_groups.csv"
SUMMARY_MD = "summary.md"
REPORT_HTML = "report.html"
# Written by every report, in this order.
REPORT_FILES = (ACCURACY_PLOT, LOSS_PLOT, RUNS_CSV, GROUPS_CSV, SUMMARY_MD, REPORT_HTML)
FOREST_FILE = "differences.png"  # only with a paired comparison


@dataclass
class RunRecord:
    """One job's run, as the report sees it (:func:`augsweep.tracking.report.load_records`).

    Attributes:
        run: The MLflow run.
        history: Metric -> per-epoch values.
        settings: Its values of the swept keys, ``seed`` excluded (its group).
    """

    run: Run
    history: dict[str, list[float]] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def row(self) -> dict:
        info, data = self.run.info, self.run.data
        duration = (info.end_time - info.start_time) / 1000 if info.end_time else None
        best_epoch = data.metrics.get("best_epoch")
        return {
            "run_name": info.run_name,
            "group": ",".join(f"{k}={v}" for k, v in self.settings.items()) or "all runs",
            "augment": data.tags.get(Tag.AUGMENT, ""),
            "seed": data.params.get("seed", ""),
            # runs from before the tag existed ran on TensorFlow
            "keras_backend": data.tags.get(Tag.KERAS_BACKEND, "tensorflow"),
            # a pruned trial's run is FINISHED in MLflow, but stopped early: out of every mean
            "status": "PRUNED" if Tag.PRUNED_AT in data.tags else info.status,
            **{key: data.metrics.get(key) for key in metrics.COMPARED},
            "best_epoch": int(best_epoch) if best_epoch is not None else None,
            "epochs": len(self.history.get("val_accuracy", [])),
            "duration_s": round(duration, 1) if duration is not None else None,
            "error": data.tags.get(Tag.ERROR, ""),
            "run_id": info.run_id,
        }

    @property
    def stats_row(self) -> dict:
        """The row :func:`augsweep.tracking.stats.analyze` takes."""
        return {**self.row, "settings": self.settings}


def sweep_command(parent_tags: Mapping[str, str]) -> str:
    """The command that launched the sweep, from its parent run's ``sweep_overrides`` tag."""
    overrides = parent_tags.get(Tag.SWEEP_OVERRIDES, "").split()
    return " ".join(["python train.py -m", *(shlex.quote(o) for o in overrides)])


def build_report(
    records: Sequence[RunRecord],
    out_dir: Path,
    title: str,
    jobs: Sequence[dict] = (),
    parent_tags: Mapping[str, str] | None = None,
    baseline: str | None = None,
) -> list[Path]:
    """Write the report files into ``out_dir`` and return their paths (:data:`REPORT_FILES`,
    then :data:`FOREST_FILE` when drawn).

    Args:
        records: The runs to compare.
        out_dir: Where to write.
        title: The report's title.
        jobs: Every job of the sweep with what became of it
            (:func:`augsweep.tracking.report.job_table`), listed in ``summary.md`` with the
            jobs that never got a run.
        parent_tags: The tags of the sweep's parent run: its command and baseline.
        baseline: The baseline group (default: the sweep's ``report.baseline``, else
            ``none``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    parent_tags = parent_tags or {}
    analysis = analyze(records, parent_tags, baseline)
    curves = _curve_plots(records, analysis, out_dir, title)
    forest = _forest_plot(analysis, out_dir / FOREST_FILE, title)
    rows = [r.row for r in records]
    paths = [
        *curves,
        _write_csv(rows, out_dir / RUNS_CSV),
        _write_groups_csv(analysis, out_dir / GROUPS_CSV),
        _write_markdown(rows, records, out_dir / SUMMARY_MD, title, jobs, analysis),
    ]
    command = sweep_command(parent_tags) if parent_tags.get(Tag.SWEEP_OVERRIDES) else ""
    page = report_html.render(
        title=title,
        intro=_intro_lines(records, analysis),
        answers=answer_lines(analysis),
        tables=[
            (
                f"Verdict vs the baseline {analysis.baseline} (paired by seed)",
                *verdict_cells(analysis),
            ),  # fmt: skip
            ("Per group: mean [95% CI]", *group_table(analysis)),
        ],
        notes=analysis.notes,
        figures=[p for p in (forest, *curves) if p is not None],
        runs=_runs_table(rows),
        jobs=_job_rows(jobs),
        command=command,
    )
    html_path = out_dir / REPORT_HTML
    html_path.write_text(page)
    paths.append(html_path)
    return paths + ([forest] if forest else [])


def analyze(
    records: Sequence[RunRecord], parent_tags: Mapping[str, str] | None, baseline: str | None
) -> stats.Analysis:
    """The report's statistics of ``records`` (:func:`augsweep.tracking.stats.analyze`)
    against ``baseline`` (default: the sweep's ``report.baseline``, else ``none``)."""
    baseline = baseline or (parent_tags or {}).get(Tag.REPORT_BASELINE) or "none"
    return stats.analyze([r.stats_row for r in records], baseline)


def _runs_table(rows: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    """The page's runs table: :data:`PAGE_COLUMNS` (``error`` only when a run has one, the
    Keras backend only when a run did not use TensorFlow)."""
    other_backend = any(r["keras_backend"] != "tensorflow" for r in rows)
    shown = [
        c
        for c in PAGE_COLUMNS
        if (c != "error" or any(r["error"] for r in rows))
        and (c != "keras_backend" or other_backend)
    ]
    return [PAGE_HEADERS.get(c, c) for c in shown], [[_text(r[c]) for c in shown] for r in rows]


def _curve_plots(records, analysis: stats.Analysis, out_dir: Path, title: str) -> list[Path]:
    """Accuracy and loss curves: per group a mean with its 95% band when a group has
    several seeds, else one line per run."""
    banded = any(len(g.runs) > 1 for g in analysis.groups)
    paths = []
    for metric, name in (("accuracy", ACCURACY_PLOT), ("loss", LOSS_PLOT)):
        heading = f"{title}: {metric}, clean train (dashed) vs validation (solid)"
        if banded:
            groups = [_band(g, records, metric) for g in analysis.groups if g.runs]
            paths.append(plots.band_comparison(groups, metric, out_dir / name, heading))
        else:
            curves = [
                {"label": r.run.info.run_name, "group": r.row["group"], "history": r.history}
                for r in records
            ]
            paths.append(plots.comparison(curves, metric, out_dir / name, heading))
    return paths


def _band(group: stats.Group, records, metric: str) -> dict:
    ids = {run["run_id"] for run in group.runs}
    histories = [r.history for r in records if r.run.info.run_id in ids]
    return {
        "label": group.label,
        "n": len(group.runs),
        "val": stats.curve_band([h.get(f"val_{metric}", []) for h in histories]),
        "clean": stats.curve_band([h.get(f"clean_{metric}", []) for h in histories]),
    }


def _forest_plot(analysis: stats.Analysis, path: Path, title: str) -> Path | None:
    """Paired differences vs the baseline with their intervals (None: nothing to draw)."""
    panels = {}
    for metric, _ in metrics.PAIRED:
        rows = [
            (c.group.label, p.diff.mean, p.diff.low, p.diff.high)
            for c in analysis.comparisons
            for p in c.paired
            if p.metric == metric and p.diff.n > 1
        ]
        if rows:
            better = "smaller is better" if metric == "final_gap" else "higher is better"
            panels[f"Δ {metrics.LABELS[metric]} ({better})"] = rows
    if not panels:
        path.unlink(missing_ok=True)
        return None
    heading = f"{title}: paired differences vs {analysis.baseline}, 95% CI"
    return plots.forest(panels, path, heading)


def fmt_interval(interval: stats.Interval, signed: bool = False) -> str:
    """``0.8123 [0.7900, 0.8346]``; the mean alone below two values; ``-`` without any."""
    if interval.n == 0:
        return "-"
    spec = "+.4f" if signed else ".4f"
    if interval.low is None:
        return f"{interval.mean:{spec}}"
    return f"{interval.mean:{spec}} [{interval.low:{spec}}, {interval.high:{spec}}]"


def fmt_p(p: float | None) -> str:
    """A p-value to 3 significant digits (``-`` when there is none)."""
    return "-" if p is None else f"{p:.3g}"


def verdict_table(analysis: stats.Analysis) -> tuple[list[str], list[list[str]]]:
    """The paired comparisons: per group and metric, difference [CI], p and verdict."""
    holm = analysis.corrected
    header = ["group", "baseline", "pairs"]
    for metric, _ in metrics.PAIRED:
        ci = "[95% CI, unadjusted]" if holm else "[95% CI]"
        header += [f"Δ {metrics.LABELS[metric]} {ci}", "p", *(["p (Holm)"] if holm else [])]
        header.append("verdict")
    rows = []
    for comparison in analysis.comparisons:
        row = [comparison.group.label, comparison.baseline.label, str(len(comparison.seeds))]
        for result in comparison.paired:
            row += [fmt_interval(result.diff, signed=True), fmt_p(result.p)]
            row += [fmt_p(result.p_adjusted)] if holm else []
            row.append(result.verdict)
        rows.append(row)
    return header, rows


def verdict_cells(analysis: stats.Analysis) -> tuple[list[str], list[list]]:
    """The paired comparisons, narrow: per group one cell per metric holding the difference,
    its interval, p and the verdict (a cell is ``(text, verdict)``: the page colours it).
    Fits MLflow's artifact frame (about 950 px) where :func:`verdict_table` does not; ``n``
    is the number of pairs."""
    header = ["group", "n"] + [f"Δ {metrics.LABELS[m]}" for m, _ in metrics.PAIRED]
    rows = []
    for comparison in analysis.comparisons:
        row: list = [stats.short_label(comparison.group), str(len(comparison.seeds))]
        for result in comparison.paired:
            diff, p = fmt_interval(result.diff, signed=True), fmt_p(result.p)
            if result.family > 1:
                p += f", Holm {fmt_p(result.p_adjusted)}"
            row.append((f"{diff}, p {p}: {result.verdict}", result.verdict))
        rows.append(row)
    return header, rows


def answer_lines(analysis: stats.Analysis) -> list[str]:
    """The one-line answer per compared group (:func:`augsweep.tracking.stats.answer`)."""
    return [stats.answer(comparison) for comparison in analysis.comparisons]


def verdict_markdown(analysis: stats.Analysis) -> list[str]:
    """The answers and the narrow verdict table as Markdown (the sweep run's description)."""
    if not analysis.comparisons:
        return [f"- {note}" for note in analysis.notes]
    header, rows = verdict_cells(analysis)
    cells = [[c[0] if isinstance(c, tuple) else c for c in row] for row in rows]
    return [
        *(f"- {line}" for line in answer_lines(analysis)),
        "",
        f"Paired by seed against {analysis.baseline} ({_verdict_legend(analysis)}):",
        "",
        *_markdown_table(header, cells),
    ]


def _verdict_legend(analysis: stats.Analysis) -> str:
    """What a verdict cell holds: ``95% CI, p, verdict`` (Holm's p added when corrected)."""
    if analysis.corrected:
        return "95% CI unadjusted, p, Holm-adjusted p, verdict by the adjusted p"
    return "95% CI, p, verdict"


def _correction_sentence(analysis: stats.Analysis) -> str:
    """How the verdicts were decided: each on its own, or Holm over a family."""
    if not analysis.corrected:
        return (
            "The verdict is better or worse when the 95% CI of the mean difference excludes 0 "
            "(p < 0.05); one group is compared with its baseline, so there is nothing to "
            "correct for."
        )
    return (
        "Several groups are compared with one baseline, so each metric's p-values over the "
        "groups sharing a baseline are corrected for it (Holm's step-down method): the verdict "
        "is better or worse when the Holm-adjusted p < 0.05. The 95% CIs shown are unadjusted "
        "(each comparison on its own), so an interval may exclude 0 while the verdict says "
        "no clear difference."
    )


def group_table(analysis: stats.Analysis) -> tuple[list[str], list[list[str]]]:
    """Per group: finished runs and each metric's mean [95% CI]."""
    header = ["group", "n"] + [metrics.LABELS[m] for m in metrics.COMPARED]
    rows = [
        [g.label, str(len(g.runs))] + [fmt_interval(g.stats[m]) for m in metrics.COMPARED]
        for g in analysis.groups
    ]
    return header, rows


def _intro_lines(records, analysis: stats.Analysis) -> list[str]:
    """What the tables mean, in a few sentences."""
    return [
        *_data_lines(records)[:-1],
        "gap = clean-train accuracy (training images without augmentation) minus validation "
        "accuracy, at the last epoch: large means overfitting; smaller is better.",
        f"Runs are grouped by every swept key but seed ({', '.join(analysis.keys) or 'none'}); "
        "intervals are 95% Student t intervals over the seeds.",
        f"Each group is compared with the baseline {analysis.baseline} that has the same other "
        f"swept values, seed by seed (same seed: same split and initial weights). Test: "
        f"{stats.TEST_NAME}. {_correction_sentence(analysis)} Validation accuracy is the "
        "final epoch's, not the best: the best is picked on the validation set itself and "
        "favours noisier curves.",
        stats.ANSWER_RULES,
    ]


def _write_csv(rows: Sequence[dict], path: Path) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _write_groups_csv(analysis: stats.Analysis, path: Path) -> Path:
    """One row per group: n, each metric's mean and CI, and its paired comparison."""
    versus = {id(c.group): c for c in analysis.comparisons}
    rows = []
    for group in analysis.groups:
        row = {"group": group.label, "n": len(group.runs)}
        for metric in metrics.COMPARED:
            interval = group.stats[metric]
            row |= {
                f"{metric}_mean": interval.mean if interval.n else None,
                f"{metric}_ci_low": interval.low,
                f"{metric}_ci_high": interval.high,
            }
        comparison = versus.get(id(group))
        row["baseline"] = comparison.baseline.label if comparison else ""
        row["pairs"] = len(comparison.seeds) if comparison else None
        for result in comparison.paired if comparison else ():
            name = f"diff_{result.metric}"
            row |= {
                name: result.diff.mean if result.diff.n else None,
                f"{name}_ci_low": result.diff.low,
                f"{name}_ci_high": result.diff.high,
                f"p_{result.metric}": result.p,
                f"p_holm_{result.metric}": result.p_adjusted,
                f"verdict_{result.metric}": result.verdict,
            }
        rows.append(row)
    names = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows),
    ]


def _write_markdown(
    rows, records, path: Path, title: str, jobs: Sequence[dict], analysis: stats.Analysis
) -> Path:
    shown = COLUMNS[:-2]
    lines = [f"# {title}", ""]
    if analysis.comparisons:
        lines += ["## Answer per group", "", *(f"- {a}" for a in answer_lines(analysis)), ""]
    for line in _intro_lines(records, analysis):
        lines += [line, ""]
    lines += [f"## Verdict vs the baseline {analysis.baseline} (paired by seed)", ""]
    if analysis.comparisons:
        lines += _markdown_table(*verdict_table(analysis))
    lines += [f"- {note}" for note in analysis.notes]
    lines += ["", "## Per group (finished runs; mean [95% CI], Student t)", ""]
    lines += _markdown_table(*group_table(analysis))
    lines += ["", "## Runs", ""]
    lines += _markdown_table(shown, [[row[key] for key in shown] for row in rows])
    lines += _left_out_lines(rows) + _job_lines(jobs)
    fingerprints = {r.run.data.tags.get(Tag.DATA_FINGERPRINT) for r in records} - {None}
    if len(fingerprints) > 1:
        lines += [
            "",
            f"**Warning:** these runs used different data "
            f"(data_fingerprint: {', '.join(sorted(fingerprints))}); "
            "their curves are not comparable.",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _left_out_lines(rows: Sequence[dict]) -> list[str]:
    """The runs kept out of the means (not FINISHED), with why."""
    out = [row for row in rows if row["status"] != "FINISHED"]
    if not out:
        return []
    lines = ["", "Not in the means (not FINISHED):", ""]
    for row in out:
        why = f": {row['error']}" if row["error"] else ""
        lines.append(f"- {row['run_name']} ({row['status']}{why})")
    return lines


def _job_lines(jobs: Sequence[dict]) -> list[str]:
    """Every job of the sweep: what became of it, its run, why it failed."""
    if not jobs:
        return []
    return ["", "## Jobs", "", *_markdown_table(*_job_rows(jobs))]


def _job_rows(jobs: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    """The job table: number, run name, outcome, run id, error or detail."""
    header = ["job", "run", "outcome", "run_id", "detail"]
    return header, [
        [
            str(job["job"] + 1),
            job["name"],
            job["outcome"],
            job["run_id"] or "",
            job["error"] or job["detail"],
        ]  # fmt: skip
        for job in jobs
    ]


def _data_lines(records) -> list[str]:
    """``Data: tf_flowers, 5 classes: daisy, ...`` per distinct dataset of the runs."""
    seen = {}
    for record in records:
        tags = record.run.data.tags
        classes = [name for name in tags.get(Tag.CLASSES, "").split(",") if name]
        if classes:
            seen.setdefault((tags.get(Tag.DATASET, ""), tuple(classes)), None)
    return [f"Data: {dataset}, {plots.class_list(classes)}." for dataset, classes in seen] + (
        [""] if seen else []
    )


def _text(value) -> str:
    """A table cell's text: floats to 4 decimals, None empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _cell(value) -> str:
    """A Markdown table cell (a ``|`` would end it)."""
    return _text(value).replace("|", "/")
