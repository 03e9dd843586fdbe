"""A fake unit of work for use-case tests: no database, no broker, milliseconds a test.

A service's use cases take a unit of work and reach their data only through ``uow.store``;
the tests hand them ``FakeUnitOfWork(FakeStore())``, where the service's ``FakeStore`` keeps
its rows in dicts. As the real one, it commits on a clean exit and undoes everything on an
exception (the store's state is restored from a copy taken on entry, or at the last
``checkpoint``), and the events it was given are kept in ``events`` only once it commits; a
processed-event record (``first_time``) is kept only by the last commit, as the real one does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from ..db import envelope
from ..event_contract import wire_data


class FakeUnitOfWork:
    """``pioneer.db.UnitOfWork`` in memory, over a fake store."""

    def __init__(self, store: Any, cities: tuple[str, ...] = ("cixi", "haining", "jiaxing")):
        self.store = store
        self.cities = cities
        self.events: list[dict[str, Any]] = []  # committed envelopes
        self.commits = 0  # transactions committed, checkpoints included
        self.checkpoints = 0  # of this unit of work's current use
        self._pending: list[dict[str, Any]] = []
        self._saved: dict[str, Any] | None = None
        self._processed: set[tuple[str, str]] = set()
        self._claims: set[tuple[str, str]] = set()

    def __enter__(self) -> FakeUnitOfWork:
        self._pending = []
        self._claims = set()
        self.checkpoints = 0
        self._saved = copy.deepcopy(self.store.__dict__)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.events.extend(self._pending)
            self._processed |= self._claims
            self.commits += 1
        else:
            self.store.__dict__.clear()
            self.store.__dict__.update(self._saved or {})
        self._pending = []
        self._claims = set()

    def checkpoint(self) -> None:
        """Commit what was written and emitted so far and go on; the processed records stay
        for the last commit (``pioneer.db.UnitOfWork.checkpoint``)."""
        self.events.extend(self._pending)
        self._pending = []
        self.commits += 1
        self.checkpoints += 1
        self._saved = copy.deepcopy(self.store.__dict__)

    @contextmanager
    def reading(self) -> Iterator[Any]:
        """The store, as the real unit of work gives it over a read connection."""
        yield self.store

    def emit(self, event_type: str, city: str, data: BaseModel | dict[str, Any]) -> dict[str, Any]:
        """Keep the event; it counts as published once the unit of work commits."""
        payload = wire_data(event_type, data)
        origin = city if city in self.cities else self.cities[0]
        env = envelope(event_type, city, origin, payload)
        self._pending.append(env)
        return env

    def first_time(self, event_id: str, handler: str) -> bool:
        """Whether ``handler`` has not processed ``event_id`` before (and now has)."""
        key = (event_id, handler)
        if key in self._processed or key in self._claims:
            return False
        self._claims.add(key)
        return True

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        """The committed events of one type, in order."""
        return [e for e in self.events if e["type"] == event_type]
