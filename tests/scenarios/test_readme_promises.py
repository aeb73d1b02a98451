"""What the README promises about stores and sweeps, as a user meets it: a sweep that reuses
every run still shows and reports them; a rebuilt report needs no option; an experiment made
through a server is refused at once to a local run; basic auth starts and refuses a wrong
password; a refusal is said once. Real subprocesses, a real ``mlflow server``."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
from mlflow.tracking import MlflowClient

from augsweep.tracking.tags import Tag
from tests.helpers import ROOT, SMALL, run_cli
from tests.helpers.server import mlflow_server

SWEEP = [*SMALL, "trainer.epochs=1", "augment=none,flip"]


def sweep(tmp_path, uri: str, *extra: str, name: str = "sweep"):
    result = run_cli(str(ROOT / "train.py"), "-m", *SWEEP, *extra, f"tracking.uri={uri}",
                     f"hydra.sweep.dir={tmp_path}/{name}", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def parents(client: MlflowClient) -> list:
    """The sweeps' parent runs, oldest first."""
    runs = client.search_runs(["1"], order_by=["attributes.start_time ASC"])
    return [run for run in runs if run.data.tags.get(Tag.ROLE) == "sweep"]


@pytest.mark.slow
def test_a_sweep_that_reuses_every_run_shows_them_and_its_report_rebuilds(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    sweep(tmp_path, uri, name="first")
    # Another command (seed named), the same two runs: both skipped as done.
    again = sweep(tmp_path, uri, "seed=0", name="second")
    assert again.stdout.count(": skipped (finished run") == 2, again.stdout
    client = MlflowClient(uri)
    first, second = parents(client)
    second_id = second.data.tags[Tag.SWEEP_ID]
    # The UI's filter finds the reused runs under the second sweep too.
    found = client.search_runs(["1"], f"tags.`{Tag.SWEEPS}` LIKE '%{second_id}%'")
    assert len(found) == 2
    first_id = first.data.tags[Tag.SWEEP_ID]
    assert {run.data.tags[Tag.SWEEPS] for run in found} == {f"{first_id},{second_id}"}
    # Its description links to both runs, each marked reused.
    note = second.data.tags[Tag.NOTE]
    assert note.count("(reused: trained before)") == 2
    assert all(f"runs/{run.info.run_id})" in note for run in found)
    # The README's rebuild, with no option: the augsweep experiment's latest sweep.
    rebuilt = run_cli("-m", "augsweep.tracking.report", "--tracking-uri", uri, cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    summary = (tmp_path / "reports" / second_id / "summary.md").read_text()
    assert "| augment=none |" in summary and "| augment=flip |" in summary


@pytest.mark.slow
def test_an_experiment_made_through_a_server_is_refused_at_once_to_local_runs(tmp_path):
    store = tmp_path / "mlruns"
    with mlflow_server(store) as server:
        MlflowClient(server.uri).create_experiment("shared")
    local = f"sqlite:///{store}/mlflow.db"
    for mode in ([], ["-m", "augment=none,flip"]):
        result = run_cli(str(ROOT / "train.py"), *mode, *SMALL, f"tracking.uri={local}",
                         "tracking.experiment=shared", f"hydra.sweep.dir={tmp_path}/sweep",
                         f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)  # fmt: skip
        assert result.returncode == 2, result.stderr[-3000:]
        lines = [line for line in result.stderr.splitlines() if "shared" in line]
        assert lines == [
            "augsweep: experiment 'shared' was created through a tracking server, which keeps "
            "its artifacts (mlflow-artifacts:/1): log to it with tracking=server (`make "
            "server`), or choose another tracking.experiment for local runs"
        ], result.stderr[-3000:]
        assert "Traceback" not in result.stderr
    assert MlflowClient(local).search_runs(["1"]) == []  # nothing was created


def api_status(uri: str, user: str, password: str) -> int:
    """The HTTP status of an experiments search as ``user``."""
    request = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/experiments/search",
        data=json.dumps({"max_results": 1}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
def test_basic_auth_starts_and_refuses_a_wrong_password(tmp_path, monkeypatch):
    # The README's command, its users kept under tmp_path rather than the working directory.
    config = tmp_path / "basic_auth.ini"
    config.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{tmp_path}/basic_auth.db\nadmin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(config))
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", "a-long-admin-password")
    monkeypatch.setenv("MLFLOW_FLASK_SERVER_SECRET_KEY", "a-test-secret-key")
    with mlflow_server(tmp_path / "mlruns", args="--app-name basic-auth") as server:
        assert api_status(server.uri, "admin", "a-long-admin-password") == 200
        assert api_status(server.uri, "admin", "wrong-password") == 401
        assert api_status(server.uri, "nobody", "a-long-admin-password") == 401


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "code", "message"),
    [
        ("trainer.batch_size=-1", 2, "invalid config:"),
        ("tracking.uri=http://127.0.0.1:9", 1, "no MLflow tracking server answers"),
    ],
    ids=["config", "store"],
)
def test_a_refusal_is_said_once(tmp_path, override, code, message):
    result = run_cli(str(ROOT / "train.py"), *SMALL, override, f"hydra.run.dir={tmp_path}/run",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == code, result.stderr[-3000:]
    said = [line for line in (result.stdout + result.stderr).splitlines() if message in line]
    assert len(said) == 1 and said[0].startswith(f"augsweep: {message}"), said


@pytest.mark.slow
def test_sigterm_while_tensorflow_imports_exits_130_with_no_run(tmp_path):
    import signal
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *SMALL, f"tracking.uri={uri}",
         f"hydra.run.dir={tmp_path}/run"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    before = ""
    while not before.rstrip().endswith(": started") and process.poll() is None:
        before += process.stdout.readline()  # "run ...: started": TensorFlow's import next
    process.send_signal(signal.SIGTERM)
    output = before + process.communicate(timeout=120)[0]
    assert process.returncode == 130, output[-3000:]
    assert "Traceback" not in output and ": killed after" in output
    client = MlflowClient(uri)
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []
