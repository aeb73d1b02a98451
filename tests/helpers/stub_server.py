"""A tiny HTTP server on 127.0.0.1 standing in for an ``mlflow server`` where a real one is
too slow to start: it answers ``/health`` with a chosen status, every MLflow REST call
(``/api/...``) with ``{}`` (or with a chosen error), anything else with 404, and keeps what it
was sent."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Stub:
    """The running server: its ``uri``, the statuses it answers ``/health`` and the REST API
    with, and the requests it got as ``(method, path, JSON body or None)``."""

    uri: str = ""
    health_status: int = 200
    api_status: int = 200
    requests: list[tuple[str, str, object]] = field(default_factory=list)


@contextlib.contextmanager
def stub_server(
    health_status: int = 200, api_status: int = 200, prefix: str = ""
) -> Iterator[Stub]:
    """A started :class:`Stub` (under URL path ``prefix``), shut down at the end.

    Args:
        health_status: What ``/health`` answers (200: ``OK``).
        api_status: What the REST API answers: 200 (``{}``) or an error, which MLflow's
            client raises without retrying for a 4xx.
        prefix: The server's static prefix (``--static-prefix``).
    """
    stub = Stub(health_status=health_status, api_status=api_status)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            stub.requests.append((self.command, self.path, json.loads(body) if body else None))
            if self.path == f"{prefix}/health":
                status, text = stub.health_status, b"OK"
            elif self.path.startswith(f"{prefix}/api/") and stub.api_status == 200:
                status, text = 200, b"{}"
            elif self.path.startswith(f"{prefix}/api/"):
                error = {"error_code": "INVALID_PARAMETER_VALUE", "message": "refused by the stub"}
                status, text = stub.api_status, json.dumps(error).encode()
            else:
                status, text = 404, b"not found"
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    stub.uri = f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
