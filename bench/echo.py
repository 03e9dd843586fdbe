"""The baseline: a bare nameko service with no kernel (no auth, validation, metrics, database)."""

from __future__ import annotations

from typing import Any

from nameko.events import event_handler
from nameko.rpc import rpc


class EchoService:
    """Echoes RPC arguments and counts events: what nameko and the broker cost by themselves."""

    name = "echo"
    handled = 0
    checkins = 0

    @rpc
    def echo(self, value: Any) -> Any:
        return value

    @rpc
    def events_handled(self) -> int:
        return EchoService.handled

    @event_handler("bench", "tick")
    def on_tick(self, payload: Any) -> None:
        EchoService.handled += 1

    @rpc
    def checkins_handled(self) -> int:
        return EchoService.checkins

    # The baseline of points' event throughput: the same check-in envelopes, only counted.
    # (Its own exchange, so the two are measured one after the other, each with both cores.)
    @event_handler("bench_stations", "volunteer_checked_in")
    def on_checked_in(self, payload: Any) -> None:
        EchoService.checkins += 1
