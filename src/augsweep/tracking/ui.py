"""Where to look in the MLflow UI: the command that serves a store, and the pages of runs.

Stdlib only: the command line prints these after a run or a sweep.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from augsweep import metrics
from augsweep.tracking import uri as uris
from augsweep.tracking.tags import Tag

# MLflow 3.17's UI shows an experiment as GenAI (its overview, traces) or as model training
# (its runs) after this URL parameter, else after the switch at its top left, kept in the
# browser's local storage and GenAI by default. It does not read the experiment's
# `mlflow.experimentKind` tag (augsweep sets it too, for the UIs that do): only the parameter
# lands a link on the runs, checked in Chromium.
MODEL_TRAINING = "workflowType=machine_learning"
LOCAL_UI = "http://127.0.0.1:5000"  # `mlflow ui`'s default address, and `make ui`'s
# The repository (if augsweep runs from its checkout): `make ui` serves its mlruns/mlflow.db.
PROJECT_ROOT = Path(__file__).resolve().parents[3]
PROJECT_STORE = PROJECT_ROOT / "mlruns" / "mlflow.db"


def ui_command(uri: str) -> str | None:
    """The command that opens the MLflow UI on store ``uri``; None for a server (it serves
    its own UI).

    Args:
        uri: A resolved tracking URI (``sqlite:////abs/path/mlflow.db``, ``http://...``).

    Returns:
        ``make ui`` for the project's default store (``make -C ROOT ui`` from elsewhere),
        else ``mlflow ui --backend-store-uri URI``.
    """
    if not uris.is_sqlite(uri):
        return None
    db = uris.sqlite_file(uri)
    if db == PROJECT_STORE and (PROJECT_ROOT / "Makefile").exists():
        return "make ui" if Path.cwd() == PROJECT_ROOT else f"make -C {PROJECT_ROOT} ui"
    return f"mlflow ui --backend-store-uri {uri}"


def ui_address(uri: str) -> str:
    """The address of the UI over store ``uri``: the server itself, or a local ``mlflow ui``."""
    if uris.is_http(uri):
        return uri.rstrip("/")
    return LOCAL_UI


def experiment_url(uri: str, experiment_id: str, view_key: str = "") -> str:
    """The UI's page of an experiment, opened on its runs (in a shared view, if given:
    :func:`sweep_view`)."""
    if not view_key:
        return f"{ui_address(uri)}/#/experiments/{experiment_id}?{MODEL_TRAINING}"
    # The runs route itself: the experiment's route redirects there, dropping the view.
    runs = f"{ui_address(uri)}/#/experiments/{experiment_id}/runs"
    return f"{runs}?{MODEL_TRAINING}&{VIEW_PARAM}={view_key}"


# MLflow 3.17's shared views: the runs page's URL parameter `viewStateShareKey=KEY` loads
# the view state (filter, columns, grouping, charts) kept as JSON in the experiment's tag
# `mlflow.sharedViewState.KEY` (the UI's own "share" writes the same; read in its bundle
# and checked in Chromium).
VIEW_PARAM = "viewStateShareKey"
VIEW_TAG = "mlflow.sharedViewState."
# Swept config groups that each run carries as a tag by their option's name (the rest of
# the swept keys are params).
GROUP_TAGS = (Tag.AUGMENT, Tag.DATASET, Tag.MODEL)
# The runs table's columns, and the Chart view's bars (one value per run: its summary,
# logged at one step) then lines over epochs.
VIEW_COLUMNS = (metrics.TEST_ACCURACY, metrics.FINAL_GAP, metrics.FINAL_VAL_ACCURACY,
                metrics.FINAL_CLEAN_ACCURACY, metrics.BEST_EPOCH)  # fmt: skip
VIEW_BARS = (metrics.TEST_ACCURACY, metrics.FINAL_GAP, metrics.FINAL_VAL_ACCURACY,
             metrics.FINAL_CLEAN_ACCURACY)  # fmt: skip
VIEW_LINES = (metrics.VAL_ACCURACY, metrics.GAP, metrics.CLEAN_ACCURACY)


def sweep_view_key(sweep_id: str) -> str:
    """The key of a sweep's shared view (:func:`sweep_view`)."""
    return f"augsweep-sweep-{sweep_id}"


def sweep_view(sweep_id: str, swept_keys: Sequence[str]) -> str:
    """A sweep's view of the runs page, as MLflow's shared view state (JSON): the sweep's
    runs (reused ones included, its parent left out), grouped by the swept keys but the
    seed (means per group), every group shown, the summary metrics as columns, and charts
    of them as bars per group, then the curves.

    Args:
        sweep_id: The sweep.
        swept_keys: Its swept keys (``augment``, ``seed``, ``trainer.learning_rate``).
    """
    by = [
        {"mode": "tag" if key in GROUP_TAGS else "param", "groupByData": key}
        for key in swept_keys
        if key != "seed"
    ]
    section = {
        "uuid": "augsweep-summary",
        "name": "Summary: one value per run (bars)",
        "display": True,
        "isReordered": False,
        "deleted": False,
        "isGenerated": False,
    }
    curves = {**section, "uuid": "augsweep-curves", "name": "Per epoch (lines)"}
    charts = [_chart("BAR", key, section["uuid"]) for key in VIEW_BARS]
    charts += [_chart("LINE", key, curves["uuid"]) for key in VIEW_LINES]
    state = {
        "searchFilter": f"tags.`{Tag.SWEEPS}` LIKE '%{sweep_id}%'",
        "selectedColumns": [f"metrics.`{key}`" for key in VIEW_COLUMNS],
        "groupBy": {"aggregateFunction": "average", "groupByKeys": by} if by else None,
        "groupsExpanded": {},
        "runsHiddenMode": "SHOW_ALL",
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "compareRunSections": [section, curves],
        "compareRunCharts": charts,
        "isAccordionReordered": True,
    }
    return json.dumps(state)


def _chart(kind: str, metric: str, section: str) -> dict:
    """A chart of the Chart view: ``BAR`` (a value per run or group) or ``LINE`` (over
    epochs, mean and band per group)."""
    chart = {"uuid": f"augsweep-{kind.lower()}-{metric}", "type": kind, "metricKey": metric,
             "metricSectionId": section, "deleted": False, "isGenerated": False,
             "runsCountToCompare": 100, "displayName": metric}  # fmt: skip
    if kind == "LINE":
        chart |= {"selectedMetricKeys": [metric], "lineSmoothness": 0, "scaleType": "linear",
                  "xAxisScaleType": "linear", "xAxisKey": "step", "selectedXAxisMetricKey": "",
                  "yAxisKey": "metric", "yAxisExpressions": [], "ignoreOutliers": False,
                  "range": {}, "useGlobalXaxisKey": False,
                  "useGlobalLineSmoothing": False}  # fmt: skip
    return chart


def run_url(uri: str, experiment_id: str, run_id: str, artifact: str | None = None) -> str:
    """The UI's page of a run, or of one of its artifacts (MLflow 3's routes:
    ``#/experiments/<id>/runs/<run>`` and ``.../artifacts/<path>``)."""
    url = f"{ui_address(uri)}/#/experiments/{experiment_id}/runs/{run_id}"
    return f"{url}/artifacts/{artifact}?{MODEL_TRAINING}" if artifact else f"{url}?{MODEL_TRAINING}"


def where_to_look(
    uri: str,
    experiment_id: str,
    run_id: str,
    label: str = "run",
    artifact: str = "",
    view_key: str = "",
) -> str:
    """The lines that end a run or a sweep: how to open the UI, then the pages of the
    experiment, of the run, and of an artifact (e.g. the sweep's ``report.html``).

    Args:
        uri: The resolved tracking URI the runs went to.
        experiment_id: The run's experiment.
        run_id: The run (a sweep's parent run).
        label: What the run is, for the line of its page.
        artifact: An artifact of the run to link to (path under the run's artifact root).
        view_key: A shared view of the runs page to open (:func:`sweep_view`).
    """
    command = ui_command(uri)
    if command:
        lines = [f"MLflow UI: {command}  (then open the pages below)"]
    else:
        lines = [f"MLflow UI: {ui_address(uri)}  (the tracking server's)"]
    pages = {
        "runs": experiment_url(uri, experiment_id, view_key),
        label: run_url(uri, experiment_id, run_id),
    }
    if artifact:
        pages[artifact] = run_url(uri, experiment_id, run_id, artifact)
    width = max(map(len, pages)) + 1
    lines += [f"  {f'{name}:':<{width}} {url}" for name, url in pages.items()]
    return "\n".join(lines)
