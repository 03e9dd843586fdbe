"""SQL built from the domain's declarations: a transition's guard and its conditional update.

A ``domain.Transition`` names the states an action starts from, the state it leads to and the
conditions that must hold besides; here it becomes the ``WHERE`` of one ``UPDATE ... RETURNING``,
so of any number of racing changes the database lets through exactly those the rule allows.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, update

from .. import domain


def in_states(column: Any, states: frozenset[str]) -> ColumnElement[bool]:
    """``column`` is one of ``states`` (an equality for one state, so an index on it is used)."""
    ordered = sorted(states)
    return column == ordered[0] if len(ordered) == 1 else column.in_(ordered)


def transition_guard(table: Table, step: domain.Transition) -> ColumnElement[bool]:
    """``step`` as SQL over ``table``: the status is one it starts from and each of its
    conditions holds, the conditions' operands bound as ``:now`` and ``:actor``."""
    return and_(
        in_states(table.c.status, step.sources),
        *(c.test(table.c[c.field], bindparam(c.operand)) for c in step.conditions),
    )


@functools.cache
def transition_update(table: Table, step: domain.Transition, fields: tuple[str, ...]) -> Any:
    """The conditional update of ``step`` on the row ``:record_id``, setting ``fields`` (bound as
    ``:new_<field>``) besides the status, the version and ``updated_at = :now``; returns the row
    as it now is. Built once per step and set of fields."""
    return (
        update(table)
        .where(table.c.id == bindparam("record_id"), transition_guard(table, step))
        .values(
            status=step.target,
            version=table.c.version + 1,
            updated_at=bindparam("now"),
            **{name: bindparam(f"new_{name}") for name in fields},
        )
        .returning(*table.c)
    )


def transition_params(
    record_id: str, now: Any, values: dict[str, Any], actor: str | None = None
) -> dict[str, Any]:
    """The parameters of ``transition_update`` for one change."""
    params = {f"new_{name}": value for name, value in values.items()}
    params.update(record_id=record_id, now=now, actor=actor)
    return params
