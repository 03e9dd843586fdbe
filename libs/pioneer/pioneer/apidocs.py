"""API reference generated from the code: each service's RPC methods, roles, arguments, events.

``pioneer docs`` writes ``docs/api/<service>.md``; a test keeps the checked-in files equal to
what the code says, so the reference cannot drift from the contract the services enforce.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.rpc import Rpc

from .auth import ROLES
from .definitions import handler_bindings
from .event_contract import DATA_OF
from .registry import built_services, default_port, service_class


def rpc_methods(cls: type) -> list[tuple[str, Any]]:
    """``(name, function)`` of every RPC entrypoint of ``cls``, in source order."""
    found = []
    for name, member in inspect.getmembers(cls, inspect.isfunction):
        if any(isinstance(e, Rpc) for e in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ())):
            found.append((name, member))
    return sorted(found, key=lambda item: _source_line(item[1]))


def _source_line(fn: Any) -> tuple[str, int]:
    target = inspect.unwrap(fn)
    try:
        return (inspect.getsourcefile(target) or "", inspect.getsourcelines(target)[1])
    except (OSError, TypeError):
        return ("", 0)


def _type_text(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    if "anyOf" in schema:
        return " or ".join(_type_text(s, defs) for s in schema["anyOf"])
    if "enum" in schema:
        return ", ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list[{_type_text(schema.get('items', {}), defs)}]"
    limits = [
        f"{key} {schema[key]}"
        for key in ("minLength", "maxLength", "minimum", "maximum", "pattern", "format")
        if key in schema
    ]
    return f"{kind} ({', '.join(limits)})" if limits else kind


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|")


def _argument_rows(fn: Any) -> list[str]:
    model, names = fn.contract_arguments()
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    rows = []
    for name in names:
        prop = schema["properties"][name]
        default = "" if name in required else json.dumps(prop.get("default"), ensure_ascii=False)
        rows.append(
            f"| `{name}` | {_cell(_type_text(prop, defs))} | {'yes' if name in required else 'no'} "
            f"| {default} |"
        )
    return rows


def _models(fn: Any) -> dict[str, Any]:
    model, _ = fn.contract_arguments()
    return model.model_json_schema().get("$defs", {})


def _access_table(cls: type) -> list[str]:
    """Who may call what: a row per method, a column per role, each cell the records a token
    holding only that role reaches ("own city": its token's city; "self": its own volunteer
    id; "any city"; "—": refused). Tokens of the city ``*`` cover every city."""
    roles = sorted(ROLES)
    lines = [
        "## Who may call what",
        "",
        "Each cell: what a token holding only that role reaches (`own city`: records of its"
        " token's city, or every city for a `*` token; `self`: its own volunteer id; `—`:"
        " `Forbidden`).",
        "",
        "| method | " + " | ".join(f"`{r}`" for r in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for name, fn in rpc_methods(cls):
        policy = fn.contract_policy
        lines.append(f"| `{name}` | " + " | ".join(policy.reach(r) for r in roles) + " |")
    return [*lines, ""]


def _consumers(source: str) -> dict[str, list[str]]:
    """For each event type of ``source``, the built services with a handler bound for it."""
    found: dict[str, list[str]] = {}
    for name in built_services():
        for event_type in sorted(
            {b["routing_key"] for b in handler_bindings(name) if b["source"] == source}
        ):
            found.setdefault(event_type, []).append(name)
    return found


def _published(service: str, publishes: tuple[str, ...]) -> list[str]:
    """Each published event type, who consumes it, and its data's fields (``DATA_OF``), one
    table per data model."""
    if not publishes:
        return []
    lines = [
        "## Events published",
        "",
        f"On the exchange `{service}.events` (routing key = type), from the outbox, in the"
        " envelope of the contract; `data` holds exactly the fields below (consumers ignore"
        " fields they do not know, so a field is only ever added).",
        "",
    ]
    consumers = _consumers(service)
    by_model: dict[Any, list[str]] = {}
    for event_type in publishes:
        by_model.setdefault(DATA_OF[event_type], []).append(event_type)
    for model, event_types in by_model.items():
        lines += [
            "| event | consumed by |",
            "|---|---|",
            *[
                f"| `{t}` | {', '.join(consumers.get(t, [])) or '(outside systems only)'} |"
                for t in event_types
            ],
            "",
            _markdown(inspect.cleandoc(model.__dict__.get("__doc__") or "")),
            "",
            *_field_table(model.model_json_schema()),
            "",
        ]
    return lines


def _field_rows(model: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    """A model's fields as a table: name, type, whether required."""
    required = set(model.get("required", []))
    rows = ["| field | type | required |", "|---|---|---|"]
    for field, prop in model.get("properties", {}).items():
        yes = "yes" if field in required else "no"
        rows.append(f"| `{field}` | {_cell(_type_text(prop, defs))} | {yes} |")
    return rows


def _field_table(schema: dict[str, Any]) -> list[str]:
    """An event's data fields, then the fields of the models nested in it."""
    defs = schema.get("$defs", {})
    rows = _field_rows(schema, defs)
    for name, nested in defs.items():
        fields = ", ".join(
            f"`{field}` {_type_text(prop, defs)}" for field, prop in nested["properties"].items()
        )
        rows += ["", f"`{name}`: {fields}."]
    return rows


def _markdown(docstring: str) -> str:
    """A docstring's reST literals as Markdown code."""
    return docstring.replace("``", "`")


def render(service: str) -> str:
    """The Markdown reference of one built service."""
    cls = service_class(service)
    lines = [
        f"# `{service}` API",
        "",
        f"_Generated from the code by `pioneer docs`; do not edit._ {inspect.getdoc(cls) or ''}",
        "",
        f"Transport: nameko RPC on the service `{service}`; metrics and health on HTTP port "
        f"{default_port(service) or '-'} (`/metrics`, `/health`). Every method takes a bearer "
        "token in context data `authorization` unless it says no token is needed. Errors are "
        "`RemoteError` with `exc_type` one of `ValidationError`, `NotFound`, `Conflict`, "
        "`Unauthorized`, `Forbidden`, `WrongCity`, `Suspended`.",
        "",
        *_access_table(cls),
        "## Methods",
        "",
    ]
    models: dict[str, Any] = {}
    for name, fn in rpc_methods(cls):
        who = fn.contract_policy.describe()
        lines += [f"### `{name}`", "", inspect.getdoc(fn) or "", "", f"Who: {who}.", ""]
        rows = _argument_rows(fn)
        if rows:
            lines += ["| argument | type | required | default |", "|---|---|---|---|", *rows, ""]
        models.update(_models(fn))
    lines += _published(service, getattr(cls, "publishes", ()))
    bindings = handler_bindings(service)
    if bindings:
        lines += ["## Events consumed", "", "| exchange | type | queue |", "|---|---|---|"]
        peers = " (federated peers' copies only)"
        lines += [
            f"| `{b['exchange']}` | `{b['routing_key']}`{peers if b['peers_only'] else ''} "
            f"| `{b['queue']}` |"
            for b in bindings
        ]
        lines.append("")
    if models:
        lines += ["## Argument models", ""]
        for model_name in sorted(models):
            model = models[model_name]
            lines += [f"### {model_name}", ""]
            if model.get("description"):
                lines += [model["description"], ""]
            if "properties" in model:
                lines += _field_rows(model, models)
            else:
                lines.append(f"{_type_text(model, models)}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
