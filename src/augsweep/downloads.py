"""A quick reachability check, so that offline runs fail in seconds instead of retrying.

TFDS retries a failed download for minutes and Keras's ``get_file`` waits on the system's
timeouts; asking first whether the host answers at all lets augsweep fail at once with an
error that says how to provide the file offline.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

TIMEOUT_S = 3.0


def reachable(url: str, timeout: float = TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``url``'s host and port opens within ``timeout`` seconds.

    Args:
        url: An ``http(s)://`` URL.
        timeout: Seconds to wait for the name lookup and the connection.

    Returns:
        True if the host accepted a connection.
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False
