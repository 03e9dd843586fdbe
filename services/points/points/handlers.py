"""Points' service layer: each function is one use case inside one unit of work.

Every ledger entry is written in the same transaction as the balance it changes, the ranking
totals it counts in and its outbox event. Double effects are made impossible by the database,
not by checking first: a piece of work or a reversal is a unique ``source_key`` (inserted with
``ON CONFLICT DO NOTHING``), a redemption is unique per ``(volunteer_id, idempotency_key)``,
and balance and stock only move through conditional ``UPDATE ... WHERE balance >= :cost``
/ ``WHERE stock >= :quantity`` (with ``CHECK`` constraints behind them), so racing calls can
never overspend or oversell. No RPC or broker call happens inside a transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from pioneer import auth, clock, ids
from pioneer.db import UtcDateTime, conflict_insert
from pioneer.errors import Conflict, Forbidden, NotFound, ValidationError
from pioneer.events import (
    Event,
    PointsChanged,
    RequestChanged,
    VolunteerChanged,
    VolunteerCheckedIn,
    WishChanged,
    read_data,
)
from pioneer.kernel import RequestContext
from pioneer.paging import decode_cursor, decode_id_cursor, encode_cursor, page
from pioneer.replica import require_eligible, volunteer_replica
from pioneer.schemas import Page

from . import domain
from .models import (
    Balance,
    CatalogItem,
    LedgerEntry,
    PeerEntry,
    Redemption,
    TeamMember,
    Total,
)
from .schemas import (
    BalanceOut,
    Board,
    BoardItem,
    CatalogItemIn,
    CatalogItemOut,
    EntryOut,
    RedemptionOut,
    ReportItem,
)

ledger_t = LedgerEntry.__table__
balances_t = Balance.__table__
totals_t = Total.__table__
items_t = CatalogItem.__table__
redemptions_t = Redemption.__table__
members_t = TeamMember.__table__
peers_t = PeerEntry.__table__
replica_t = volunteer_replica

# Who reads any volunteer's points in their city (a volunteer reads only its own).
READERS = frozenset({auth.ADMIN, auth.DISPATCHER, auth.SYSTEM, auth.OPS})
# Who redeems for a volunteer of their city (a volunteer redeems only for itself).
REDEEMERS = frozenset({auth.VOLUNTEER, auth.ADMIN, auth.SYSTEM})
ADMINS = frozenset({auth.ADMIN})
REPORTERS = frozenset({auth.ADMIN, auth.OPS, auth.SYSTEM})


# --- small database helpers ---------------------------------------------------------------------


def _upsert(table: str, columns: list[str], conflict: str, action: str, **types: Any) -> Any:
    """``INSERT ... ON CONFLICT`` as text: the same SQL on SQLite (3.35+) and PostgreSQL.

    Written out rather than built with the dialects' ``insert().on_conflict_*()``, which
    SQLAlchemy does not cache: compiling them anew for every event was a quarter of the work.
    """
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)})"
        f" VALUES ({', '.join(':' + c for c in columns)}) ON CONFLICT ({conflict}) {action}"
    )
    return text(sql).bindparams(*(bindparam(name, type_=kind) for name, kind in types.items()))


_ENTRY_COLUMNS = [
    "id",
    "volunteer_id",
    "city",
    "kind",
    "delta",
    "reason",
    "hours",
    "source_event_id",
    "source_key",
    "redemption_id",
    "actor",
    "at",
    "recorded_at",
]
_BOOK = _upsert(
    "ledger_entries",
    _ENTRY_COLUMNS,
    "source_key",
    "DO NOTHING RETURNING id",
    at=UtcDateTime(),
    recorded_at=UtcDateTime(),
)
_CREDIT_ACTION = (
    "DO UPDATE SET balance = balances.balance + excluded.balance,"
    " earned = balances.earned + excluded.earned, updated_at = excluded.updated_at"
)
_BALANCE_COLUMNS = ["volunteer_id", "city", "balance", "earned", "spent", "updated_at"]
_CREDIT = _upsert(
    "balances",
    _BALANCE_COLUMNS,
    "volunteer_id",
    _CREDIT_ACTION + " RETURNING balance",
    updated_at=UtcDateTime(),
)
# The same for many volunteers at once (executemany: no RETURNING; ``_BALANCES_OF`` reads back).
_CREDIT_MANY = _upsert(
    "balances", _BALANCE_COLUMNS, "volunteer_id", _CREDIT_ACTION, updated_at=UtcDateTime()
)
_BALANCES_OF = select(balances_t.c.volunteer_id, balances_t.c.balance).where(
    balances_t.c.volunteer_id.in_(bindparam("volunteer_ids", expanding=True))
)
# Entries for many pieces of work at once: a piece already booked inserts nothing, and
# ``_BOOKED_AMONG`` (by the new ids) tells which were booked by this statement.
_BOOK_MANY = _upsert(
    "ledger_entries",
    _ENTRY_COLUMNS,
    "source_key",
    "DO NOTHING",
    at=UtcDateTime(),
    recorded_at=UtcDateTime(),
)
_BOOKED_AMONG = select(ledger_t.c.id).where(
    ledger_t.c.id.in_(bindparam("entry_ids", expanding=True))
)
_TOTALS = _upsert(
    "totals",
    ["period", "volunteer_id", "city", "points", "hours", "activities", "wishes", "requests"],
    "period, volunteer_id",
    "DO UPDATE SET "
    + ", ".join(
        f"{c} = totals.{c} + excluded.{c}"
        for c in ("points", "hours", "activities", "wishes", "requests")
    ),
)


def _require_reader(caller: auth.Caller, volunteer_id: str, city: str) -> None:
    """A volunteer reads only its own points; admins, dispatchers, systems and ops read the
    volunteers of their city."""
    if auth.VOLUNTEER in caller.roles and caller.sub == volunteer_id:
        return
    if caller.has(*READERS) and caller.covers(city):
        return
    if auth.VOLUNTEER in caller.roles and not caller.has(*READERS):
        raise Forbidden("a volunteer token reads only its own points")
    raise Forbidden(f"may not read the points of volunteers of '{city}'")


def _known(session_or_conn: Any, volunteer_id: str) -> bool:
    """Whether the volunteer is in the replica or has points here."""
    for column in (replica_t.c.volunteer_id, balances_t.c.volunteer_id):
        if session_or_conn.execute(select(column).where(column == volunteer_id)).first():
            return True
    return False


def entry_out(row: Any) -> EntryOut:
    return EntryOut.model_validate(row, from_attributes=True)


def redemption_out(row: Any) -> RedemptionOut:
    return RedemptionOut.model_validate(row, from_attributes=True)


# --- booking: entries, balances, totals ---------------------------------------------------------


def _book(
    uow: Any,
    *,
    volunteer_id: str,
    city: str,
    kind: str,
    delta: int,
    reason: str,
    at: datetime,
    source_key: str | None = None,
    source_event_id: str | None = None,
    hours: float = 0.0,
    redemption_id: str | None = None,
    actor: str | None = None,
) -> str | None:
    """Append a ledger entry; its id, or ``None`` when ``source_key`` is already booked."""
    values = {
        "id": ids.new_id(city, "pe"),
        "volunteer_id": volunteer_id,
        "city": city,
        "kind": kind,
        "delta": delta,
        "reason": reason[:200],
        "hours": hours,
        "source_event_id": source_event_id,
        "source_key": source_key,
        "redemption_id": redemption_id,
        "actor": actor,
        "at": at,
        "recorded_at": clock.utcnow(),
    }
    return uow.session.execute(_BOOK, values).scalar()


def _credit_balance(uow: Any, volunteer_id: str, city: str, delta: int) -> int:
    """Add ``delta >= 0`` earned points (creating the balance row); the new balance."""
    values = {
        "volunteer_id": volunteer_id,
        "city": city,
        "balance": delta,
        "earned": delta,
        "spent": 0,
        "updated_at": clock.utcnow(),
    }
    return uow.session.execute(_CREDIT, values).scalar_one()


def _move_balance(uow: Any, volunteer_id: str, earned: int = 0, spent: int = 0) -> int | None:
    """Change earned and/or spent on an existing balance, only if it stays >= 0 (one
    conditional UPDATE: racing debits cannot both pass); the new balance or ``None``."""
    change = earned - spent
    return uow.session.execute(
        update(balances_t)
        .where(
            balances_t.c.volunteer_id == volunteer_id,
            balances_t.c.balance + change >= 0,
        )
        .values(
            balance=balances_t.c.balance + change,
            earned=balances_t.c.earned + earned,
            spent=balances_t.c.spent + spent,
            updated_at=clock.utcnow(),
        )
        .returning(balances_t.c.balance)
    ).scalar()


def _add_totals(
    uow: Any,
    volunteer_id: str,
    city: str,
    at: datetime,
    points: int,
    hours: float = 0.0,
    activities: int = 0,
    wishes: int = 0,
    requests: int = 0,
) -> None:
    """Add to the volunteer's totals for all time, ``at``'s year and month (one upsert)."""
    rows = [
        {
            "period": period,
            "volunteer_id": volunteer_id,
            "city": city,
            "points": points,
            "hours": hours,
            "activities": activities,
            "wishes": wishes,
            "requests": requests,
        }
        for period in domain.periods_of(at)
    ]
    uow.session.execute(_TOTALS, rows)


def _emit(uow: Any, kind: str, city: str, data: dict[str, Any]) -> None:
    uow.emit(
        domain.EVENT_OF_KIND[kind],
        city,
        PointsChanged(**data, kind=kind, ranked=domain.counts_for_ranking(kind)),
    )


@dataclass(frozen=True)
class Work:
    """A piece of work to credit: whose, the home city keeping the points, what it earns,
    when it was done and the event that told of it."""

    volunteer_id: str
    city: str
    earning: domain.Credit
    at: datetime
    source_event_id: str


def credit(
    ctx: RequestContext,
    uow: Any,
    volunteer_id: str,
    city: str,
    earning: domain.Credit,
    at: datetime,
    source_event_id: str,
) -> str | None:
    """Book one piece of work once (``credit_many`` of one). The entry id, or ``None`` when
    this work was already credited (a replay)."""
    entry_id = credit_many(uow, [Work(volunteer_id, city, earning, at, source_event_id)])[0]
    if entry_id is None:
        ctx.outcome = "duplicate"
    return entry_id


def credit_many(uow: Any, works: list[Work]) -> list[str | None]:
    """Book pieces of work once each: entries, balances, totals and one ``points_awarded`` per
    entry that earned points, all in ``uow`` and with one statement per table however many.

    Returns the entry id of each piece, or ``None`` where it was already booked (a replay, or a
    repeat within ``works``). Each event carries the balance just after its own entry.
    """
    now = clock.utcnow()
    entry_ids: list[str | None] = []
    rows: list[dict[str, Any]] = []
    keys: set[str] = set()
    for work in works:
        if work.earning.source_key in keys:
            entry_ids.append(None)
            continue
        keys.add(work.earning.source_key)
        entry_id = ids.new_id(work.city, "pe")
        entry_ids.append(entry_id)
        rows.append(
            {
                "id": entry_id,
                "volunteer_id": work.volunteer_id,
                "city": work.city,
                "kind": work.earning.kind,
                "delta": work.earning.delta,
                "reason": work.earning.reason[:200],
                "hours": work.earning.hours,
                "source_event_id": work.source_event_id,
                "source_key": work.earning.source_key,
                "redemption_id": None,
                "actor": None,
                "at": work.at,
                "recorded_at": now,
            }
        )
    session = uow.session
    session.execute(_BOOK_MANY, rows)
    booked = set(session.execute(_BOOKED_AMONG, {"entry_ids": [r["id"] for r in rows]}).scalars())
    entry_ids = [e if e in booked else None for e in entry_ids]
    new = [(work, e) for work, e in zip(works, entry_ids, strict=True) if e is not None]
    if not new:
        return entry_ids

    earned: dict[str, dict[str, Any]] = {}
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for work, _ in new:
        credit_row = earned.setdefault(
            work.volunteer_id,
            {
                "volunteer_id": work.volunteer_id,
                "city": work.city,
                "balance": 0,
                "earned": 0,
                "spent": 0,
                "updated_at": now,
            },
        )
        credit_row["balance"] += work.earning.delta
        credit_row["earned"] += work.earning.delta
        for period in domain.periods_of(work.at):
            total = totals.setdefault(
                (period, work.volunteer_id),
                {
                    "period": period,
                    "volunteer_id": work.volunteer_id,
                    "city": work.city,
                    "points": 0,
                    "hours": 0.0,
                    "activities": 0,
                    "wishes": 0,
                    "requests": 0,
                },
            )
            total["points"] += work.earning.delta
            total["hours"] += work.earning.hours
            total["activities"] += work.earning.activities
            total["wishes"] += work.earning.wishes
            total["requests"] += work.earning.requests
    # In key order, so concurrent batches lock rows in one order (no deadlocks on PostgreSQL).
    session.execute(_CREDIT_MANY, [earned[v] for v in sorted(earned)])
    session.execute(_TOTALS, [totals[k] for k in sorted(totals)])
    balance = {
        volunteer_id: value
        for volunteer_id, value in session.execute(_BALANCES_OF, {"volunteer_ids": list(earned)})
    }

    # Walk back from each volunteer's final balance to the balance after each entry.
    after: list[int] = []
    for work, _ in reversed(new):
        after.append(balance[work.volunteer_id])
        balance[work.volunteer_id] -= work.earning.delta
    for (work, entry_id), balance_after in zip(new, reversed(after), strict=True):
        if work.earning.delta:
            _emit(
                uow,
                work.earning.kind,
                work.city,
                {
                    "entry_id": entry_id,
                    "volunteer_id": work.volunteer_id,
                    "city": work.city,
                    "delta": work.earning.delta,
                    "reason": work.earning.reason,
                    "balance": balance_after,
                    "at": work.at,
                    "source_event_id": work.source_event_id,
                },
            )
    return entry_ids


# --- earning from events ------------------------------------------------------------------------


def _ours(ctx: RequestContext, volunteer_id: str | None, volunteer_city: str | None) -> bool:
    """Points are kept in the volunteer's home city: another deployment credits the others
    (it receives its own federated copy of the event)."""
    if not volunteer_id or not volunteer_city:
        return False
    if not ctx.serves(volunteer_city) or ids.city_of(volunteer_id) != volunteer_city:
        ctx.outcome = "ignored"
        return False
    return True


def on_checked_in(ctx: RequestContext, uow: Any, events: list[Event]) -> list[str | None]:
    """Credit a batch of check-ins (one statement per table); an outcome per event."""
    outcomes: list[str | None] = []
    works: list[Work] = []
    for event in events:
        data = read_data(VolunteerCheckedIn, event)
        if not _ours(ctx, data.volunteer_id, data.volunteer_city):
            outcomes.append("ignored")
            continue
        earning = domain.checkin_credit(
            data.activity_id, data.volunteer_id, data.points, data.hours
        )
        at = data.checked_in_at or event.occurred_at
        works.append(Work(data.volunteer_id, data.volunteer_city, earning, at, event.event_id))
        outcomes.append(None)
    booked = iter(credit_many(uow, works) if works else [])
    return [outcome or ("duplicate" if next(booked) is None else None) for outcome in outcomes]


def _credit_event(
    ctx: RequestContext,
    uow: Any,
    event: Event,
    model: type[WishChanged] | type[RequestChanged],
    earning_of: Callable[[Any, domain.EarningRules], domain.Credit | None],
) -> None:
    """Credit the volunteer a wishes event names, in its home city, with what
    ``earning_of(data, rules)`` says the work earns (``None``: nothing)."""
    data = read_data(model, event)
    if not _ours(ctx, data.volunteer_id, data.volunteer_city):
        return
    earning = earning_of(data, ctx.settings.rules(data.volunteer_city))
    if earning is None:
        return
    credit(
        ctx, uow, data.volunteer_id, data.volunteer_city, earning, event.occurred_at, event.event_id
    )


def on_wish_closed(ctx: RequestContext, uow: Any, event: Event) -> None:
    _credit_event(
        ctx, uow, event, WishChanged, lambda data, rules: domain.wish_credit(data.wish_id, rules)
    )


def on_request_completed(ctx: RequestContext, uow: Any, event: Event) -> None:
    _credit_event(
        ctx,
        uow,
        event,
        RequestChanged,
        lambda data, rules: domain.request_credit(data.request_id, rules),
    )


def on_request_rated(ctx: RequestContext, uow: Any, event: Event) -> None:
    """The top-rating bonus; independent of ``request_completed``, so either may come first."""
    _credit_event(
        ctx,
        uow,
        event,
        RequestChanged,
        lambda data, rules: domain.rating_bonus(data.request_id, data.rating, rules),
    )


def update_memberships(uow: Any, events: list[Event]) -> None:
    """After ``events`` were folded into the replica, give each volunteer the team membership
    of its newest event that carries teams, unless the replica already holds a newer event
    (an older event changes nothing). A batch takes three statements however long it is."""
    newest: dict[str, tuple[int, list[str]]] = {}
    for event in events:
        data = read_data(VolunteerChanged, event)
        if data.teams is None:
            continue
        held = newest.get(data.volunteer_id)
        if held is None or data.version >= held[0]:
            newest[data.volunteer_id] = (data.version, sorted(set(data.teams)))
    if not newest:
        return
    stored = dict(uow.session.execute(_REPLICA_VERSIONS, {"ids": sorted(newest)}).all())
    # In key order, as the replica's upsert, so two batches lock rows in one order.
    current = [v for v in sorted(newest) if stored.get(v) == newest[v][0]]
    if not current:
        return
    uow.session.execute(_MEMBERS_OF, {"ids": current})
    rows = [{"team_id": t, "volunteer_id": v} for v in current for t in newest[v][1]]
    if rows:
        uow.session.execute(insert(members_t), rows)


_REPLICA_VERSIONS = select(replica_t.c.volunteer_id, replica_t.c.version).where(
    replica_t.c.volunteer_id.in_(bindparam("ids", expanding=True))
)
_MEMBERS_OF = delete(members_t).where(
    members_t.c.volunteer_id.in_(bindparam("ids", expanding=True))
)


def on_peer_points(ctx: RequestContext, uow: Any, event: Event) -> str | None:
    """A peer deployment's ranked entry (federated ``points.events``) into the all-cities
    totals, once per entry (this deployment's own are acknowledged before they get here:
    ``peers_only``). The outcome: ``None`` (counted), ``ignored`` or ``duplicate``."""
    data = read_data(PointsChanged, event)
    if ctx.serves(data.city) or data.ranked is False:
        return "ignored"
    kind = data.kind or domain.ADJUST
    if not domain.counts_for_ranking(kind):
        return "ignored"
    stored = uow.session.execute(
        conflict_insert(uow.session, peers_t)
        .values(
            entry_id=data.entry_id,
            volunteer_id=data.volunteer_id,
            city=data.city,
            delta=data.delta,
            at=data.at,
        )
        .on_conflict_do_nothing(index_elements=["entry_id"])
        .returning(peers_t.c.entry_id)
    ).scalar()
    if stored is None:
        return "duplicate"
    _add_totals(uow, data.volunteer_id, data.city, data.at, data.delta)
    return None


# --- reading a volunteer's points ---------------------------------------------------------------


def balance(ctx: RequestContext, volunteer_id: str) -> BalanceOut:
    city = ids.city_of(volunteer_id)
    _require_reader(ctx.caller, volunteer_id, city)
    ctx.require_served(city, "volunteer")
    with ctx.read() as conn:
        row = conn.execute(
            select(balances_t).where(balances_t.c.volunteer_id == volunteer_id)
        ).first()
        if row is None and not _known(conn, volunteer_id):
            raise NotFound(f"no volunteer {volunteer_id}")
    if row is None:
        return BalanceOut(volunteer_id=volunteer_id, balance=0, earned=0, spent=0)
    return BalanceOut(
        volunteer_id=volunteer_id, balance=row.balance, earned=row.earned, spent=row.spent
    )


def history(
    ctx: RequestContext, volunteer_id: str, limit: int, cursor: str | None
) -> Page[EntryOut]:
    """The volunteer's entries, newest first (ids are time-ordered ULIDs), paged."""
    city = ids.city_of(volunteer_id)
    _require_reader(ctx.caller, volunteer_id, city)
    ctx.require_served(city, "volunteer")
    before = decode_id_cursor(cursor)
    query = (
        select(ledger_t)
        .where(ledger_t.c.volunteer_id == volunteer_id)
        .order_by(ledger_t.c.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(ledger_t.c.id < before)
    with ctx.read() as conn:
        rows = conn.execute(query).all()
        if not rows and before is None and not _known(conn, volunteer_id):
            raise NotFound(f"no volunteer {volunteer_id}")
    items, next_cursor = page(rows, limit, lambda r: [r.id])
    return Page[EntryOut](items=[entry_out(r) for r in items], next_cursor=next_cursor)


# --- admin adjustments --------------------------------------------------------------------------


def adjust(ctx: RequestContext, volunteer_id: str, delta: int, reason: str) -> dict[str, Any]:
    """An admin's correction, booked as an ``adjust`` entry naming who made it; it counts
    towards rankings. A deduction may not take the balance below zero (``Conflict``)."""
    city = ids.city_of(volunteer_id)
    auth.require_city(ctx.caller, city, roles=ADMINS)
    ctx.require_served(city, "volunteer")
    if delta == 0:
        raise ValidationError("delta", "must not be zero")
    now = clock.utcnow()
    with ctx.uow() as uow:
        if not _known(uow.session, volunteer_id):
            raise NotFound(f"no volunteer {volunteer_id}")
        if delta > 0:
            new_balance = _credit_balance(uow, volunteer_id, city, delta)
        else:
            new_balance = _move_balance(uow, volunteer_id, earned=delta)
            if new_balance is None:
                raise Conflict(f"volunteer {volunteer_id} has fewer than {-delta} points")
        entry_id = _book(
            uow,
            volunteer_id=volunteer_id,
            city=city,
            kind=domain.ADJUST,
            delta=delta,
            reason=reason,
            at=now,
            actor=ctx.caller.sub[:128],
        )
        _add_totals(uow, volunteer_id, city, now, delta)
        _emit(
            uow,
            domain.ADJUST,
            city,
            {
                "entry_id": entry_id,
                "volunteer_id": volunteer_id,
                "city": city,
                "delta": delta,
                "reason": reason,
                "balance": new_balance,
                "at": now,
            },
        )
        row = uow.session.execute(select(ledger_t).where(ledger_t.c.id == entry_id)).one()
    ctx.log.info("points_adjusted", volunteer_id=volunteer_id, delta=delta)
    return {**entry_out(row).model_dump(mode="json"), "balance": new_balance}


# --- catalog and redemption ---------------------------------------------------------------------


def add_catalog_item(ctx: RequestContext, city: str, item: CatalogItemIn) -> CatalogItemOut:
    auth.require_city(ctx.caller, city, roles=ADMINS)
    ctx.require_served(city, "catalog")
    row = {
        "id": ids.new_id(city, "item"),
        "city": city,
        "name": item.name,
        "cost": item.cost,
        "stock": item.stock,
        "created_at": clock.utcnow(),
    }
    with ctx.uow() as uow:
        uow.session.execute(insert(items_t).values(**row))
    return CatalogItemOut.model_validate(row)


def catalog(ctx: RequestContext, city: str, limit: int, cursor: str | None) -> Page[CatalogItemOut]:
    ctx.require_served(city, "catalog")
    after = decode_id_cursor(cursor)
    query = select(items_t).where(items_t.c.city == city).order_by(items_t.c.id).limit(limit + 1)
    if after is not None:
        query = query.where(items_t.c.id > after)
    with ctx.read() as conn:
        rows = conn.execute(query).all()
    items, next_cursor = page(rows, limit, lambda r: [r.id])
    return Page[CatalogItemOut](
        items=[CatalogItemOut.model_validate(r, from_attributes=True) for r in items],
        next_cursor=next_cursor,
    )


def _redemption_by_key(conn: Any, volunteer_id: str, key: str) -> Any:
    return conn.execute(
        select(redemptions_t).where(
            redemptions_t.c.volunteer_id == volunteer_id,
            redemptions_t.c.idempotency_key == key,
        )
    ).first()


def redeem(
    ctx: RequestContext, volunteer_id: str, item_id: str, quantity: int, key: str
) -> RedemptionOut:
    """Spend points on ``quantity`` of a catalog item of the volunteer's home city.

    The same ``(volunteer, idempotency_key)`` redeems once: a repeat returns the first result.
    A refused redemption (stock, balance, suspension) records nothing, so its key stays free.
    """
    city = ids.city_of(volunteer_id)
    auth.require_acting_for(ctx.caller, volunteer_id, city)
    ctx.require_served(city, "volunteer")
    with ctx.read() as conn:
        first = _redemption_by_key(conn, volunteer_id, key)
    if first is not None:
        return redemption_out(first)
    try:
        return _redeem_once(ctx, volunteer_id, city, item_id, quantity, key)
    except IntegrityError:
        # A concurrent call with the same key committed first (the unique key made this one
        # wait for it, then fail): answer with its result.
        with ctx.read() as conn:
            first = _redemption_by_key(conn, volunteer_id, key)
        if first is None:
            raise Conflict(f"redemption {key} could not be recorded; try again") from None
        return redemption_out(first)


def _redeem_once(
    ctx: RequestContext, volunteer_id: str, city: str, item_id: str, quantity: int, key: str
) -> RedemptionOut:
    now = clock.utcnow()
    with ctx.uow() as uow:
        require_eligible(uow.session, volunteer_id, now)
        item = uow.session.execute(select(items_t).where(items_t.c.id == item_id)).first()
        if item is None:
            raise NotFound(f"no catalog item {item_id}")
        if item.city != city:
            raise Conflict(
                f"item {item_id} is in the catalog of '{item.city}'; the volunteer's points are"
                f" kept in '{city}'"
            )
        cost = item.cost * quantity
        redemption_id = ids.new_id(city, "rdm")
        # The key first: a concurrent call with the same key blocks here until this commits.
        uow.session.execute(
            insert(redemptions_t).values(
                id=redemption_id,
                volunteer_id=volunteer_id,
                city=city,
                item_id=item_id,
                item_name=item.name,
                quantity=quantity,
                cost=cost,
                idempotency_key=key,
                status=domain.COMPLETED,
                balance=0,
                created_at=now,
            )
        )
        left = uow.session.execute(
            update(items_t)
            .where(items_t.c.id == item_id, items_t.c.stock >= quantity)
            .values(stock=items_t.c.stock - quantity)
            .returning(items_t.c.stock)
        ).scalar()
        if left is None:
            raise Conflict(f"item {item_id} has fewer than {quantity} left in stock")
        new_balance = _move_balance(uow, volunteer_id, spent=cost)
        if new_balance is None:
            raise Conflict(f"volunteer {volunteer_id} has fewer than {cost} points")
        uow.session.execute(
            update(redemptions_t)
            .where(redemptions_t.c.id == redemption_id)
            .values(balance=new_balance)
        )
        reason = f"redeemed {quantity} x {item.name}"
        entry_id = _book(
            uow,
            volunteer_id=volunteer_id,
            city=city,
            kind=domain.REDEEM,
            delta=-cost,
            reason=reason,
            at=now,
            source_key=domain.redemption_key(redemption_id),
            redemption_id=redemption_id,
            actor=ctx.caller.sub[:128],
        )
        _emit(
            uow,
            domain.REDEEM,
            city,
            {
                "entry_id": entry_id,
                "volunteer_id": volunteer_id,
                "city": city,
                "delta": -cost,
                "reason": reason,
                "balance": new_balance,
                "at": now,
                "redemption_id": redemption_id,
                "item_id": item_id,
                "item_name": item.name,
                "quantity": quantity,
            },
        )
        row = uow.session.execute(
            select(redemptions_t).where(redemptions_t.c.id == redemption_id)
        ).one()
    ctx.log.info("points_redeemed", volunteer_id=volunteer_id, redemption_id=redemption_id)
    return redemption_out(row)


def reverse_redemption(ctx: RequestContext, redemption_id: str, reason: str) -> RedemptionOut:
    """Undo a redemption (admin): points and stock come back, once."""
    city = ids.city_of(redemption_id)
    auth.require_city(ctx.caller, city, roles=ADMINS)
    ctx.require_served(city, "redemption")
    now = clock.utcnow()
    with ctx.uow() as uow:
        row = uow.session.execute(
            update(redemptions_t)
            .where(
                redemptions_t.c.id == redemption_id,
                redemptions_t.c.status == domain.COMPLETED,
            )
            .values(status=domain.REVERSED, reversed_at=now, reversal_reason=reason)
            .returning(*redemptions_t.c)
        ).first()
        if row is None:
            exists = uow.session.execute(
                select(redemptions_t.c.status).where(redemptions_t.c.id == redemption_id)
            ).scalar()
            if exists is None:
                raise NotFound(f"no redemption {redemption_id}")
            raise Conflict(f"redemption {redemption_id} is already reversed")
        uow.session.execute(
            update(items_t)
            .where(items_t.c.id == row.item_id)
            .values(stock=items_t.c.stock + row.quantity)
        )
        new_balance = _move_balance(uow, row.volunteer_id, spent=-row.cost)
        note = f"reversed redemption {redemption_id}: {reason}"
        entry_id = _book(
            uow,
            volunteer_id=row.volunteer_id,
            city=city,
            kind=domain.REVERSE,
            delta=row.cost,
            reason=note,
            at=now,
            source_key=domain.reversal_key(redemption_id),
            redemption_id=redemption_id,
            actor=ctx.caller.sub[:128],
        )
        if entry_id is None or new_balance is None:  # the database says: not twice
            raise Conflict(f"redemption {redemption_id} is already reversed")
        _emit(
            uow,
            domain.REVERSE,
            city,
            {
                "entry_id": entry_id,
                "volunteer_id": row.volunteer_id,
                "city": city,
                "delta": row.cost,
                "reason": note,
                "balance": new_balance,
                "at": now,
                "redemption_id": redemption_id,
                "item_id": row.item_id,
                "item_name": row.item_name,
                "quantity": row.quantity,
            },
        )
    return redemption_out(row)


# --- rankings and the annual report -------------------------------------------------------------


def leaderboard(
    ctx: RequestContext, city: str | None, period: str, team_id: str | None, limit: int
) -> Board:
    """The top of the maintained totals for ``period``: one index range read (by city, or
    over every city this deployment knows, peers' volunteers included), never the ledger.
    With ``team_id``, the team's members only (a team is at most a few thousand)."""
    filters = [totals_t.c.period == period]
    if city is not None:
        filters.append(totals_t.c.city == city)
    query = select(totals_t.c.volunteer_id, totals_t.c.city, totals_t.c.points).where(*filters)
    if team_id is not None:
        query = query.join(
            members_t,
            and_(
                members_t.c.volunteer_id == totals_t.c.volunteer_id,
                members_t.c.team_id == team_id,
            ),
        )
    query = query.order_by(totals_t.c.points.desc(), totals_t.c.volunteer_id.desc()).limit(limit)
    with ctx.read() as conn:
        rows = conn.execute(query).all()
    ranks = domain.competition_ranks(r.points for r in rows)
    return Board(
        period=period,
        city=city,
        team_id=team_id,
        items=[
            BoardItem(rank=rank, volunteer_id=r.volunteer_id, city=r.city, points=r.points)
            for rank, r in zip(ranks, rows, strict=True)
        ],
    )


def annual_report(
    ctx: RequestContext, city: str, year: int, limit: int, cursor: str | None
) -> Page[ReportItem]:
    """Per volunteer of ``city``: points, hours, activities, wishes, requests of the work done
    in ``year`` (entries whose ``at`` falls in it) and the rank among the city's volunteers,
    highest first. The cursor carries the last item's points, id, rank and position, so every
    page is one index range read however deep."""
    auth.require_city(ctx.caller, city, roles=REPORTERS)
    ctx.require_served(city, "report")
    key = decode_cursor(cursor, (float, str, float, float))
    query = (
        select(totals_t)
        .where(totals_t.c.period == f"{year:04d}", totals_t.c.city == city)
        .order_by(totals_t.c.points.desc(), totals_t.c.volunteer_id.desc())
        .limit(limit + 1)
    )
    position, previous = 1, None
    if key is not None:
        last_points, last_id, last_rank, last_position = key
        query = query.where(
            or_(
                totals_t.c.points < last_points,
                and_(totals_t.c.points == last_points, totals_t.c.volunteer_id < last_id),
            )
        )
        position, previous = int(last_position) + 1, (last_points, int(last_rank))
    with ctx.read() as conn:
        rows = conn.execute(query).all()
    rows, more = rows[:limit], len(rows) > limit
    ranks = list(domain.competition_ranks((r.points for r in rows), position, previous))
    items = [
        ReportItem(
            volunteer_id=r.volunteer_id,
            points=r.points,
            hours=round(r.hours, 2),
            activities=r.activities,
            wishes=r.wishes,
            requests=r.requests,
            rank=rank,
        )
        for r, rank in zip(rows, ranks, strict=True)
    ]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(
            [last.points, last.volunteer_id, ranks[-1], position + len(rows) - 1]
        )
    return Page[ReportItem](items=items, next_cursor=next_cursor)
