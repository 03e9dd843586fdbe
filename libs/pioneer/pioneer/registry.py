"""Where the services are: each registers itself, the kernel names none of them.

A service is a package with a ``pioneer.services`` entry point (its nameko class) and a
``services/<name>/config.yml`` whose ``WEB_SERVER_ADDRESS`` default is its HTTP port; the
platform's order (start-up, ports of a deployment) is the order of those ports. Other entry
point groups let a service add CLI commands: ``pioneer.importers`` (``pioneer import``) and
``pioneer.reports`` (``pioneer report``).
"""

from __future__ import annotations

import os
import re
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

_DEFAULT_ADDRESS = re.compile(r"^WEB_SERVER_ADDRESS:\s*\$\{WEB_SERVER_ADDRESS:[^}]*:(\d+)\}", re.M)
# A service whose config names no default port comes after the others.
_NO_PORT = 1 << 16


def home() -> Path:
    """The repository root (``PIONEER_HOME``, else the checkout this kernel is installed from)."""
    env = os.environ.get("PIONEER_HOME")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3]


def config_path(name: str) -> Path:
    """The service's nameko config file."""
    return home() / "services" / name / "config.yml"


@cache
def default_port(name: str) -> int | None:
    """The HTTP port the service's config gives by default (``/metrics``, ``/health``)."""
    try:
        match = _DEFAULT_ADDRESS.search(config_path(name).read_text())
    except OSError:
        return None
    return int(match.group(1)) if match else None


def built_services() -> list[str]:
    """Services installed in this environment, in the platform's order (by default port)."""
    names = {ep.name for ep in entry_points(group="pioneer.services")}
    return sorted(names, key=lambda name: (default_port(name) or _NO_PORT, name))


def service_class(name: str) -> Any:
    """The nameko service class registered as ``name``."""
    for ep in entry_points(group="pioneer.services"):
        if ep.name == name:
            return ep.load()
    raise LookupError(
        f"no service named {name!r} is installed (built: {', '.join(built_services()) or 'none'})"
    )


def commands(group: str) -> dict[str, Any]:
    """The entry points of a CLI group (``pioneer.importers``, ``pioneer.reports``) by name."""
    return {ep.name: ep for ep in entry_points(group=group)}
