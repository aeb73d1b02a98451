"""A throwaway PostgreSQL cluster for tests: ``initdb`` and ``pg_ctl`` of Debian's
``postgresql`` package in a temporary folder, on a free port of 127.0.0.1, run as a
non-root user (PostgreSQL refuses to run as root), stopped and removed at the end."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.server import free_port

SUPERUSER = "augsweep"  # the cluster's own superuser (trust authentication, local only)
SERVICE_USER = "augsweep-pg"  # the system user created to run it where `postgres` is missing


def postgres_bin() -> Path | None:
    """The folder of ``initdb``: on the PATH, or Debian's ``/usr/lib/postgresql/N/bin``."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return candidates[-1].parent if candidates else None


def _run_as() -> tuple[list[str], str | None]:
    """The prefix that runs a command as a non-root user, and that user (None: ourselves)."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", SERVICE_USER):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return ["runuser", "-u", name, "--"], name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
        check=True,
    )
    return ["runuser", "-u", SERVICE_USER, "--"], SERVICE_USER


@contextlib.contextmanager
def postgres_database(bindir: Path, name: str = "mlflow") -> Iterator[str]:
    """A running cluster with database ``name``; yields its ``postgresql://`` URI."""
    prefix, user = _run_as()
    base = Path(tempfile.mkdtemp(prefix="augsweep-pg-"))  # pytest's tmp_path is root-only
    if user:
        shutil.chown(base, user)
    data, port = base / "data", free_port()
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    started = False
    try:
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            **run,
        )
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(base / "postgres.log"),
                "-w",
                "-o",
                options,
                "start",
            ],
            **run,
        )
        started = True
        subprocess.run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER, name],
            **run,
        )
        yield f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{name}"
    finally:
        if started:
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=120,
            )
        shutil.rmtree(base, ignore_errors=True)
