"""Free ports for a deployment started by the tests or the bench."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_start() -> int:
    """The first port the kernel hands out for outgoing connections (32768 on Linux)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_block(size: int) -> int:
    """The first port of ``size`` consecutive free ports, below the ephemeral range.

    Below it, because services connect to the broker while others are still starting: an
    outgoing connection can take any free ephemeral port, including one chosen for a later
    service's HTTP server.
    """
    top = min(_ephemeral_start(), 65536) - size
    for _ in range(200):
        base = random.randrange(10000, top, 10)
        if all(_port_free(base + i) for i in range(size)):
            return base
    raise RuntimeError(f"no block of {size} free ports below {top + size}")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
