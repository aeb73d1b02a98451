"""Where to look in the MLflow UI: the command that serves a store, and the pages of runs.

Stdlib only: the command line prints these after a run or a sweep.
"""

from __future__ import annotations

from pathlib import Path

from augsweep.tracking import uri as uris

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


def experiment_url(uri: str, experiment_id: str) -> str:
    """The UI's page of an experiment, opened on its runs."""
    return f"{ui_address(uri)}/#/experiments/{experiment_id}?{MODEL_TRAINING}"


def run_url(uri: str, experiment_id: str, run_id: str, artifact: str | None = None) -> str:
    """The UI's page of a run, or of one of its artifacts (MLflow 3's routes:
    ``#/experiments/<id>/runs/<run>`` and ``.../artifacts/<path>``)."""
    url = f"{ui_address(uri)}/#/experiments/{experiment_id}/runs/{run_id}"
    return f"{url}/artifacts/{artifact}?{MODEL_TRAINING}" if artifact else f"{url}?{MODEL_TRAINING}"


def where_to_look(
    uri: str, experiment_id: str, run_id: str, label: str = "run", artifact: str = ""
) -> str:
    """The lines that end a run or a sweep: how to open the UI, then the pages of the
    experiment, of the run, and of an artifact (e.g. the sweep's ``report.html``).

    Args:
        uri: The resolved tracking URI the runs went to.
        experiment_id: The run's experiment.
        run_id: The run (a sweep's parent run).
        label: What the run is, for the line of its page.
        artifact: An artifact of the run to link to (path under the run's artifact root).
    """
    command = ui_command(uri)
    if command:
        lines = [f"MLflow UI: {command}  (then open the pages below)"]
    else:
        lines = [f"MLflow UI: {ui_address(uri)}  (the tracking server's)"]
    pages = {"runs": experiment_url(uri, experiment_id), label: run_url(uri, experiment_id, run_id)}
    if artifact:
        pages[artifact] = run_url(uri, experiment_id, run_id, artifact)
    width = max(map(len, pages)) + 1
    lines += [f"  {f'{name}:':<{width}} {url}" for name, url in pages.items()]
    return "\n".join(lines)
