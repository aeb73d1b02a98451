"""Where to look in the MLflow UI: the command that serves a store, and the pages of runs.

Stdlib only: the command line prints these after a run or a sweep.
"""

from __future__ import annotations

from pathlib import Path

SQLITE_PREFIX = "sqlite:///"
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
    if not uri.startswith(SQLITE_PREFIX):
        return None
    db = Path(uri.removeprefix(SQLITE_PREFIX))
    if db == PROJECT_STORE and (PROJECT_ROOT / "Makefile").exists():
        return "make ui" if Path.cwd() == PROJECT_ROOT else f"make -C {PROJECT_ROOT} ui"
    return f"mlflow ui --backend-store-uri {uri}"


def ui_address(uri: str) -> str:
    """The address of the UI over store ``uri``: the server itself, or a local ``mlflow ui``."""
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    return LOCAL_UI


def run_url(uri: str, experiment_id: str | None, run_id: str, artifact: str | None = None) -> str:
    """The UI's page of a run, or of one of its artifacts.

    MLflow 3's routes: ``#/experiments/<id>/runs/<run>`` and ``.../artifacts/<path>``;
    ``#/runs/<run>`` when the experiment is not known (the UI finds it).
    """
    if experiment_id is None:
        return f"{ui_address(uri)}/#/runs/{run_id}"
    url = f"{ui_address(uri)}/#/experiments/{experiment_id}/runs/{run_id}"
    return f"{url}/artifacts/{artifact}" if artifact else url


def where_to_look(
    uri: str, experiment_id: str | None, run_id: str, label: str = "run", artifact: str = ""
) -> str:
    """The lines that end a run or a sweep: how to open the UI, then the run's page (and
    an artifact's, e.g. the sweep's ``report.html``).

    Args:
        uri: The resolved tracking URI the runs went to.
        experiment_id: The run's experiment (None: the UI finds it).
        run_id: The run (a sweep's parent run).
        label: What the run is, for the line of its page.
        artifact: An artifact of the run to link to (path under the run's artifact root).
    """
    command = ui_command(uri)
    if command:
        lines = [f"MLflow UI: {command}  (then open the pages below)"]
    else:
        lines = [f"MLflow UI: {ui_address(uri)}  (the tracking server's)"]
    lines.append(f"  {label}: {run_url(uri, experiment_id, run_id)}")
    if artifact and experiment_id is not None:
        lines.append(f"  {artifact}: {run_url(uri, experiment_id, run_id, artifact)}")
    return "\n".join(lines)
