"""A small service that exercises every kernel mechanism (used only by the kernel's tests)."""

from __future__ import annotations

from pathlib import Path

import eventlet.patcher
from sqlalchemy import Integer, MetaData, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pioneer import auth, ids
from pioneer.batching import batch_event_handler
from pioneer.db import NAMING_CONVENTION
from pioneer.entrypoints import event_handler, rpc
from pioneer.errors import NotFound
from pioneer.schemas import CityName, Name, RecordId
from pioneer.service import PioneerService

_blocking_sleep = eventlet.patcher.original("time").sleep


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Widget(Base):
    __tablename__ = "widgets"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    city: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    count: Mapped[int] = mapped_column(Integer)


class Seen(Base):
    """What the event handler saw: one row per handled event."""

    __tablename__ = "seen"
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Switch(Base):
    """Makes the handler fail while ``failing`` is set (to test retries and replays)."""

    __tablename__ = "switch"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    failing: Mapped[int] = mapped_column(Integer)


class WidgetService(PioneerService):
    name = "widgets"
    # The size of every batch ``on_widgets_counted`` was given (the tests run in-process).
    batch_sizes: list[int] = []
    lingered_batches: list[int] = []
    migrations = str(Path(__file__).parent / "widgets_migrations")

    @rpc(roles={auth.ADMIN})
    def create_widget(self, city: CityName, name: Name, count: int = 0) -> dict:
        self.ctx.require_served(city, "widget")
        with self.ctx.uow() as uow:
            widget = Widget(id=ids.new_id(city, "wdg"), city=city, name=name, count=count)
            uow.session.add(widget)
            uow.emit("widget_created", city, {"widget_id": widget.id, "name": name})
        return {"id": widget.id, "city": city, "name": name, "count": count}

    @rpc(roles=auth.ANY_ROLE)
    def get_widget(self, widget_id: RecordId) -> dict:
        with self.ctx.uow(readonly=True) as uow:
            widget = uow.session.get(Widget, widget_id)
            if widget is None:
                raise NotFound(f"no widget {widget_id}")
            return {
                "id": widget.id,
                "city": widget.city,
                "name": widget.name,
                "count": widget.count,
            }

    @rpc(roles=auth.ANY_ROLE)
    def seen(self) -> list[str]:
        with self.ctx.uow(readonly=True) as uow:
            return sorted(uow.session.scalars(select(Seen.name)).all())

    @rpc(roles={auth.ADMIN})
    def set_failing(self, failing: bool) -> None:
        with self.ctx.uow() as uow:
            uow.session.merge(Switch(name="handler", failing=int(failing)))

    @rpc(roles=auth.ANY_ROLE)
    def crash(self) -> None:
        raise RuntimeError("a bug, not a contract error")

    @rpc(roles=auth.ANY_ROLE)
    def unserializable(self) -> set:
        return {"a set is not JSON"}

    @event_handler("widgets", "widget_created")
    def on_widget_created(self, uow, event) -> None:
        switch = uow.session.get(Switch, "handler")
        if switch is not None and switch.failing:
            raise RuntimeError("handler failing on purpose")
        uow.session.add(Seen(event_id=event.event_id, name=event.data["name"]))

    @batch_event_handler(
        "widgets", "widget_counted", skip=lambda self, event: event.data.get("name") == "skip"
    )
    def on_widgets_counted(self, uow, events) -> list[str | None]:
        WidgetService.batch_sizes.append(len(events))
        names = [event.data.get("name") for event in events]
        if "bad" in names:
            raise RuntimeError("a bad event in the batch")
        if "slow" in names:
            # Lets the rest of a burst queue up behind this batch. A blocking sleep, as a slow
            # handler would be: yielding inside a SQLite write transaction would freeze the
            # process as soon as another writer here (the relay) waited for the lock.
            _blocking_sleep(0.5)
        uow.session.add_all(
            Seen(event_id=event.event_id, name=name)
            for event, name in zip(events, names, strict=True)
            if name != "ignore"
        )
        uow.emit("widgets_seen", "cixi", {"count": len(events)})
        return ["ignored" if name == "ignore" else None for name in names]

    @batch_event_handler("widgets", "widget_lingered", linger_s=0.3)
    def on_widgets_lingered(self, uow, events) -> None:
        WidgetService.lingered_batches.append(len(events))
        uow.session.add_all(Seen(event_id=e.event_id, name=e.data["name"]) for e in events)

    # A long linger and small batches: a burst must not wait a linger per batch.
    @batch_event_handler("widgets", "widget_surged", max_batch=10, linger_s=2.0)
    def on_widgets_surged(self, uow, events) -> None:
        uow.session.add_all(Seen(event_id=e.event_id, name=e.data["name"]) for e in events)

    @batch_event_handler("widgets", "widget_federated", peers_only=True)
    def on_peer_widgets(self, uow, events) -> None:
        uow.session.add_all(Seen(event_id=e.event_id, name=e.data["name"]) for e in events)
