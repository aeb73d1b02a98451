"""Is the tracking store there? A server's ``/health`` (a stub server on 127.0.0.1 here) or a
writable SQLite path, answered in seconds with one message naming the store."""

from __future__ import annotations

import os
import stat
import time

import pytest

from augsweep.tracking import probe
from augsweep.tracking.probe import StoreUnavailable, check_store
from tests.helpers.server import free_port
from tests.helpers.stub_server import stub_server

pytestmark = pytest.mark.usefixtures("mlflow_http_settings")


@pytest.mark.parametrize(
    "prefix,slash",
    [("", ""), ("/mlflow", ""), ("/mlflow", "/")],
    ids=["plain", "static_prefix", "static_prefix_and_trailing_slash"],
)
def test_a_server_answering_its_health_check_is_accepted(prefix, slash):
    with stub_server(prefix=prefix) as server:
        check_store(server.uri + slash)
        assert [path for _, path, _ in server.requests] == [f"{prefix}/health"]


def test_no_server_listening_fails_at_once_naming_the_uri_and_how_to_start_one():
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(StoreUnavailable) as error:
        check_store(uri)
    assert time.monotonic() - start < 3
    message = str(error.value)
    assert f"no MLflow tracking server answers at tracking.uri={uri} ({uri}/health" in message
    assert "make server" in message and "tracking=local" in message


def test_a_server_whose_health_check_fails_is_unavailable():
    with stub_server(health_status=503) as server, pytest.raises(StoreUnavailable) as error:
        check_store(server.uri)
    assert f"tracking.uri={server.uri}" in str(error.value)


def test_a_sqlite_path_below_a_file_names_the_file(tmp_path):
    (tmp_path / "notes").write_text("")
    uri = f"sqlite:///{tmp_path}/notes/mlruns/mlflow.db"
    with pytest.raises(StoreUnavailable) as error:
        check_store(uri)
    assert str(error.value).startswith(f"cannot write the SQLite store of tracking.uri={uri}: ")
    assert f"{tmp_path / 'notes'} is a file, not a folder" in str(error.value)
    assert (tmp_path / "notes").read_text() == ""


def test_a_sqlite_path_that_is_a_folder_is_no_store(tmp_path):
    (tmp_path / "mlflow.db").mkdir()
    with pytest.raises(StoreUnavailable, match=r"mlflow\.db is not a file"):
        check_store(f"sqlite:///{tmp_path}/mlflow.db")


def test_an_existing_writable_store_is_accepted(tmp_path):
    (tmp_path / "mlflow.db").write_bytes(b"")
    check_store(f"sqlite:///{tmp_path}/mlflow.db")


def test_a_relative_sqlite_path_is_checked_against_the_launch_directory(tmp_path, monkeypatch):
    (tmp_path / "launch").mkdir()
    (tmp_path / "launch" / "mlruns").write_text("")  # a file where the folder would be
    monkeypatch.chdir(tmp_path)  # fine here, wrong against the launch directory
    with pytest.raises(StoreUnavailable, match="launch/mlruns is a file, not a folder"):
        check_store("sqlite:///mlruns/mlflow.db", base_dir=tmp_path / "launch")
    check_store("sqlite:///mlruns/mlflow.db", base_dir=tmp_path)
    assert not (tmp_path / "mlruns").exists()  # nothing is created by checking


def owner_access(path, mode) -> bool:
    """``os.access`` as the owner of ``path`` sees it, root or not: its owner permission
    bits (root may write anywhere, so a real read-only folder proves nothing as root)."""
    bits = os.stat(path).st_mode
    wanted = {os.R_OK: stat.S_IRUSR, os.W_OK: stat.S_IWUSR, os.X_OK: stat.S_IXUSR}
    return all(bits & flag for want, flag in wanted.items() if mode & want)


@pytest.fixture
def as_owner(monkeypatch):
    monkeypatch.setattr(probe.os, "access", owner_access)


@pytest.fixture
def read_only(tmp_path):
    """A read-only folder under tmp_path, writable again after the test (for its clean-up)."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    yield folder
    folder.chmod(0o755)


def test_a_sqlite_store_in_a_read_only_folder_is_refused(as_owner, read_only):
    read_only.chmod(0o555)
    uri = f"sqlite:///{read_only}/mlruns/mlflow.db"
    with pytest.raises(StoreUnavailable) as error:
        check_store(uri)
    assert f"tracking.uri={uri}: the folder {read_only} is not writable" in str(error.value)
    assert not (read_only / "mlruns").exists()


def test_a_read_only_sqlite_file_is_refused(as_owner, tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"")
    db.chmod(0o444)
    with pytest.raises(StoreUnavailable, match=f"{db} is read-only"):
        check_store(f"sqlite:///{db}")


def test_a_writable_sqlite_file_in_a_read_only_folder_is_refused(as_owner, read_only):
    # SQLite writes its journal beside the file: the folder must be writable too.
    (read_only / "mlflow.db").write_bytes(b"")
    read_only.chmod(0o555)
    with pytest.raises(StoreUnavailable, match=f"the folder {read_only} is not writable"):
        check_store(f"sqlite:///{read_only}/mlflow.db")
