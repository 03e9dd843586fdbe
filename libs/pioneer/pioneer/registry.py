"""Where the services are: the ``pioneer.services`` entry points and the repository layout."""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

SERVICE_ORDER = ["stations", "volunteers", "wishes", "points", "notify"]
DEFAULT_PORTS = {
    "stations": 8101,
    "volunteers": 8102,
    "wishes": 8103,
    "points": 8104,
    "notify": 8105,
}


def home() -> Path:
    """The repository root (``PIONEER_HOME``, else the checkout this kernel is installed from)."""
    env = os.environ.get("PIONEER_HOME")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3]


def built_services() -> list[str]:
    """Services installed in this environment, in the platform's order."""
    names = {ep.name for ep in entry_points(group="pioneer.services")}
    return [name for name in SERVICE_ORDER if name in names] + sorted(names - set(SERVICE_ORDER))


def service_class(name: str) -> Any:
    """The nameko service class registered as ``name``."""
    for ep in entry_points(group="pioneer.services"):
        if ep.name == name:
            return ep.load()
    raise LookupError(
        f"no service named {name!r} is installed (built: {', '.join(built_services()) or 'none'})"
    )


def config_path(name: str) -> Path:
    """The service's nameko config file."""
    return home() / "services" / name / "config.yml"
