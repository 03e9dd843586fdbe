"""Run one test layer as several pytest processes at once; fail if any of them fails.

    python scripts/pytest_groups.py [--jobs N] GROUP... [-- PYTEST_ARGS...]

A GROUP is what one pytest process runs: paths, optionally preceded by ``NAME=value``
environment settings (``"PIONEER_E2E_DB=postgres tests/e2e"``). Groups start in the order
given, so list the longest first. Each group's output is printed whole when it ends, so outputs
never interleave, then one line per group with its outcome and time.

Why processes, not pytest-xdist: the service tests run nameko under eventlet, whose monkey
patching deadlocks xdist's worker channel. And why in parallel at all: a service test spends most
of its time waiting on the broker and the database, so on two cores three groups at once take
about half the wall time of one after another. Every test already has its own vhost, database and
ports, so groups share nothing but the servers.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


@dataclass
class Outcome:
    """How one group's pytest process ended."""

    group: str
    returncode: int
    seconds: float
    output: str


def split_group(group: str) -> tuple[dict[str, str], list[str]]:
    """``"A=1 B=2 path other"`` -> ({"A": "1", "B": "2"}, ["path", "other"])."""
    env: dict[str, str] = {}
    words = shlex.split(group)
    while words and "=" in words[0] and not words[0].startswith(("-", "/", ".")):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if not words:
        raise SystemExit(f"pytest groups: {group!r} names no tests")
    return env, words


def run_group(group: str, pytest_args: list[str]) -> Outcome:
    """Run one group's pytest to the end, keeping its output in a file (not a pipe buffer)."""
    env, paths = split_group(group)
    started = time.monotonic()
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as out:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *paths, *pytest_args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
        out.seek(0)
        output = out.read()
    return Outcome(group, done.returncode, time.monotonic() - started, output)


def main(argv: list[str] | None = None) -> int:
    """Run the groups ``--jobs`` at a time; 0 only if every group passed."""
    argv = sys.argv[1:] if argv is None else argv
    pytest_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, pytest_args = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("TEST_JOBS", "3")))
    parser.add_argument("groups", nargs="+")
    args = parser.parse_args(argv)

    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_group, group, pytest_args) for group in args.groups]
        for future in futures:
            outcome = future.result()
            outcomes.append(outcome)
            print(f"--- {outcome.group}", flush=True)
            print(outcome.output.rstrip(), flush=True)
    for outcome in outcomes:
        verdict = "passed" if outcome.returncode == 0 else f"FAILED (exit {outcome.returncode})"
        print(f"{verdict:>18}  {outcome.seconds:6.0f} s  {outcome.group}")
    return 0 if all(o.returncode == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
