"""The load generator of ``make bench``: client processes speaking nameko's RPC protocol.

A measured call is described once, as a function of a cluster and an index (the same function
the proxy rows use). ``plan`` turns it into the calls it would make, without making them; the
calls are split over ``processes`` client processes (``bench.load_client``), each keeping
``inflight`` calls outstanding. A row reports, beside calls/s and latencies, the busiest client
process's CPU share (a client near 100 % of a core would be the limit, not the server) and the
server CPU per call summed over every process the call makes work for: every service (its
relay included), the echo service, the broker and, on PostgreSQL, the server's processes,
from the first call until the events it caused are handled (``settle``), less what those
processes burn when idle.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .measure import Result, process_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]


class _Recorder:
    """Stands for a cluster proxy: ``recorder.service.method(*args, **kwargs)`` is noted."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []

    def __getattr__(self, service: str) -> Any:
        recorder = self

        class _Service:
            def __getattr__(self, method: str) -> Callable[..., None]:
                def note(*args: Any, **kwargs: Any) -> None:
                    recorder.calls.append([service, method, list(args), kwargs])

                return note

        return _Service()


def plan(call: Callable[[Any, int], Any], calls: int) -> list[list[Any]]:
    """The ``[service, method, args, kwargs]`` that ``call(cluster, i)`` makes for each i."""
    recorder = _Recorder()
    for i in range(calls):
        call(recorder, i)
    return json.loads(json.dumps(recorder.calls))  # as the client will read them


def processes_named(command: str) -> list[int]:
    """The pids of this machine's processes whose command is ``command``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == command:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def broker_pid() -> int | None:
    """The local RabbitMQ node's process (``beam.smp``), if it runs on this machine."""
    return next(iter(processes_named("beam.smp")), None)


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    return {name: process_cpu_seconds(pid) or 0.0 for name, pid in pids.items()}


class RawLoad:
    """Client processes for raw RPC load against one deployment's broker."""

    def __init__(
        self,
        amqp_uri: str,
        server_pids: Callable[[], dict[str, int]],
        work_dir: Path,
        processes: int = 2,
        inflight: int = 25,
        profile_dir: Path | None = None,
        statements: Any = None,
    ) -> None:
        self.profile_dir = profile_dir
        self.statements = statements  # a ``bench.pgstat.PgStatements`` on PostgreSQL
        self.amqp_uri = amqp_uri
        self.server_pids = server_pids
        self.work_dir = work_dir
        self.processes = processes
        self.inflight = inflight

    def _idle_rate(self, pids: dict[str, int], seconds: float = 1.0) -> float:
        """CPU seconds per second the server processes spend with no load (timers, heartbeats)."""
        before = sum(_cpu(pids).values())
        time.sleep(seconds)
        return (sum(_cpu(pids).values()) - before) / seconds

    @contextlib.contextmanager
    def observed(
        self, name: str, calls: int, pids: dict[str, int] | None = None
    ) -> Iterator[dict[str, Any]]:
        """A measured phase (a raw row, or events dispatched): py-spy on every server process
        with ``--profile``, and on PostgreSQL ``pg_stat_statements`` per call of the phase,
        left in the yielded dict under ``pg_statements`` when the block ends. ``pids``: the
        processes to profile, if the caller has them already."""
        if pids is None:
            pids = {k: v for k, v in self.server_pids().items() if v is not None}
        profilers = self._profile(name, pids)
        if self.statements is not None:
            self.statements.reset()
        seen: dict[str, Any] = {}
        try:
            yield seen
        finally:
            if self.statements is not None:
                seen["pg_statements"] = self.statements.read(calls)
            for profiler in profilers:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its profile and exits
                profiler.wait(60)

    def _profile(self, name: str, pids: dict[str, int]) -> list[subprocess.Popen]:
        """With ``profile_dir``: ``py-spy record`` on every Python server process for the row,
        as collapsed stacks (``<row>.<process>.txt``, one line a stack with its sample count,
        for flamegraph tools or a quick ``sort -k2``)."""
        if self.profile_dir is None:
            return []
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(spy).exists():
            raise RuntimeError("bench: --profile needs py-spy (`make venv` installs it)")
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        return [
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--nonblocking",
                    "--output",
                    str(self.profile_dir / f"{slug}.{process}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for process, pid in pids.items()
            if process != "rabbitmq" and not process.startswith("postgres")
        ]

    def run(
        self,
        name: str,
        call: Callable[[Any, int], Any],
        calls: int,
        authorization: str | None = None,
        processes: int | None = None,
        inflight: int | None = None,
        expect_errors: Iterable[str] = (),
        settle: Callable[[], None] | None = None,
    ) -> Result:
        """``calls`` calls of ``call`` from ``processes`` clients, ``inflight`` outstanding each.

        ``settle`` waits until the work the calls caused elsewhere is done (consumers of their
        events); the server CPU counts until it returns. An error type outside
        ``expect_errors``, or any timeout, fails the row."""
        processes = processes or self.processes
        inflight = inflight or self.inflight
        planned = plan(call, calls)
        pids = {k: v for k, v in self.server_pids().items() if v is not None}
        idle = self._idle_rate(pids)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        start_at = time.time() + 1.0 + 0.4 * processes  # every client connected by then
        clients = []
        for k in range(processes):
            spec = {
                "amqp_uri": self.amqp_uri,
                "authorization": authorization,
                "calls": planned[k::processes],
                "inflight": inflight,
                "start_at": start_at,
                "timeout_s": 60,
            }
            path = self.work_dir / f"load-{k}.json"
            path.write_text(json.dumps(spec, ensure_ascii=False))
            clients.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.load_client", str(path)],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    env={**os.environ, "PYTHONPATH": str(ROOT)},
                )
            )
        time.sleep(max(0.0, start_at - time.time()))
        with self.observed(name, calls, pids) as observed:
            cpu_before = _cpu(pids)
            began = time.monotonic()
            outputs = []
            for client in clients:
                out, _ = client.communicate(timeout=900)
                if client.returncode != 0:
                    raise RuntimeError(f"bench: a load client failed ({client.returncode})")
                outputs.append(json.loads(out))
            if settle is not None:
                settle()
            elapsed = time.monotonic() - began
            cpu_after = _cpu(pids)
        statements = observed.get("pg_statements")
        seconds = max(o["seconds"] for o in outputs)
        latencies = [x for o in outputs for x in o["latencies"]]
        errors: dict[str, int] = {}
        for o in outputs:
            for kind, count in o["errors"].items():
                errors[kind] = errors.get(kind, 0) + count
        timeouts = sum(o["timeouts"] for o in outputs)
        unexpected = {k: v for k, v in errors.items() if k not in set(expect_errors)}
        if unexpected or timeouts:
            raise RuntimeError(f"bench: {name}: errors {unexpected}, {timeouts} timed out")
        spent: dict[str, float] = {}
        for key in pids:  # ``postgres:<pid>`` keys add up to one ``postgres``
            process = key.split(":", 1)[0]
            spent[process] = spent.get(process, 0.0) + cpu_after[key] - cpu_before[key]
        total = sum(spent.values()) - idle * elapsed
        return Result.of(
            name,
            processes * inflight,
            seconds,
            latencies,
            sum(errors.values()),
            server_cpu_us_per_call=round(max(total, 0.0) / calls * 1e6, 1),
            generator=f"raw {processes}×{inflight}",
            client_cpu_pct=round(max(o["cpu_s"] / o["seconds"] for o in outputs) * 100, 1),
            cpu_us_per_call_by_process={
                k: round(v / calls * 1e6, 1) for k, v in spent.items() if v / calls > 1e-5
            },
            pg_statements=statements,
        )
