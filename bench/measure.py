"""Throughput and latency of RPCs called by concurrent clients, each with its own proxy (the
proxy rows; ``bench.load`` makes the raw rows)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import eventlet
from nameko.standalone.rpc import ClusterRpcProxy


@dataclass
class Result:
    name: str
    calls: int
    concurrency: int
    seconds: float
    calls_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    server_cpu_us_per_call: float | None = None
    # How the load was made: ``proxy`` (``ClusterRpcProxy`` clients in this process) or
    # ``raw P×F`` (``bench.load``: P client processes, F calls in flight each).
    generator: str = "proxy"
    client_cpu_pct: float | None = None
    cpu_us_per_call_by_process: dict[str, float] | None = None
    # On PostgreSQL with pg_stat_statements: what the row made the server run, per call.
    pg_statements: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(
        cls,
        name: str,
        concurrency: int,
        seconds: float,
        latencies: list[float],
        errors: int,
        **extra: Any,
    ) -> Result:
        """The row of ``len(latencies)`` calls that took ``seconds`` in all."""
        latencies = sorted(latencies)
        calls = len(latencies)
        return cls(
            name=name,
            calls=calls,
            concurrency=concurrency,
            seconds=round(seconds, 3),
            calls_per_s=round(calls / seconds, 1),
            p50_ms=round(percentile(latencies, 0.50) * 1000, 2),
            p95_ms=round(percentile(latencies, 0.95) * 1000, 2),
            p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
            errors=errors,
            **extra,
        )


def process_cpu_seconds(pid: int | Sequence[int] | None) -> float | None:
    """User + system CPU time of a process (or of several, summed) so far (Linux ``/proc``),
    or None."""
    if pid is None or (not isinstance(pid, int) and not pid):
        return None
    try:
        total = 0.0
        for one in [pid] if isinstance(pid, int) else pid:
            with open(f"/proc/{one}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total
    except (OSError, ValueError, IndexError):
        return None


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class Clients:
    """``concurrency`` standalone proxies (one reply queue each), reused across measurements."""

    def __init__(self, amqp_uri: str, authorization: str | None, concurrency: int) -> None:
        context = {"authorization": authorization} if authorization else {}
        self._proxies = [
            ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data=context, timeout=60)
            for _ in range(concurrency)
        ]
        self.clusters = [proxy.start() for proxy in self._proxies]

    def close(self) -> None:
        for proxy in self._proxies:
            proxy.stop()

    def run(
        self,
        name: str,
        call: Callable[[Any, int], Any],
        calls: int,
        concurrency: int | None = None,
        expect_errors: bool = False,
        server_pid: int | Sequence[int] | None = None,
    ) -> Result:
        """``call(cluster, i)`` for i in range(calls), spread over ``concurrency`` workers."""
        clusters = self.clusters[: concurrency or len(self.clusters)]
        latencies: list[float] = []
        errors = 0
        counter = iter(range(calls))

        def worker(cluster: Any) -> None:
            nonlocal errors
            for i in counter:
                started = time.perf_counter()
                try:
                    call(cluster, i)
                except Exception:
                    if not expect_errors:
                        raise
                    errors += 1
                latencies.append(time.perf_counter() - started)

        pool = eventlet.GreenPool(len(clusters))
        cpu_before = process_cpu_seconds(server_pid)
        began = time.perf_counter()
        for cluster in clusters:
            pool.spawn(worker, cluster)
        pool.waitall()
        seconds = time.perf_counter() - began
        cpu_after = process_cpu_seconds(server_pid)
        cpu_per_call = (
            round((cpu_after - cpu_before) / calls * 1e6, 1)
            if cpu_before is not None and cpu_after is not None
            else None
        )
        return Result.of(
            name, len(clusters), seconds, latencies, errors, server_cpu_us_per_call=cpu_per_call
        )
