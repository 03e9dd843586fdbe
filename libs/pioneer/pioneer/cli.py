"""The ``pioneer`` command: tokens, local deployments, calls, dead letters, topology.

pioneer token --city cixi --role admin --sub ops-1 [--ttl SECONDS] [--deployment NAME]
pioneer up [--federated]          start the built services (what `make up` runs)
pioneer down                      stop every local deployment gracefully
pioneer status [--json]
pioneer logs [SERVICE] [--deployment NAME] [-n LINES]
pioneer call SERVICE METHOD [JSON_KWARGS] [--token T | --role R --city C --sub S]
pioneer dlq list|replay --service S [--deployment NAME] [--event-id ID ...]
pioneer definitions [--out FILE]  RabbitMQ topology derived from the code
pioneer docs [--out DIR]          the API reference (docs/api) generated from the code
pioneer import KIND FILE [...]    bulk import by a service's importer (`pioneer import volunteers
                                  FILE.csv --city haining`; `pioneer import KIND --help`)
pioneer report annual --city C --year Y --out FILE.csv
                                  the points service's annual assessment as a spreadsheet CSV
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import warnings
from typing import Any

from . import auth


def _deployment(name: str | None) -> Any:
    from .launcher import LaunchError, load_deployment, load_deployments

    if name:
        return load_deployment(name)
    found = load_deployments()
    if not found:
        raise LaunchError("no local deployment under var/ (run `make up`)")
    return next((d for d in found if d.name == "shared"), found[0])


def _serving(city: str) -> Any:
    """The local deployment serving ``city`` (federated: that city's own)."""
    from .launcher import load_deployments

    for deployment in load_deployments():
        if city in deployment.cities:
            return deployment
    return _deployment(None)


def cmd_token(args: argparse.Namespace) -> int:
    secret = os.environ.get("JWT_SECRET")
    if not secret:
        secret = _deployment(args.deployment).secret
    print(auth.issue_token(secret, args.sub, args.city, args.role, args.ttl))
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from .launcher import plan_federated, plan_shared, up

    deployments = plan_federated() if args.federated else plan_shared()
    up(deployments)
    for deployment in deployments:
        print(
            f"{deployment.name}: cities {', '.join(deployment.cities)} on {deployment.amqp_uri(masked=True)}; "
            f"HTTP {deployment.base_port}-{deployment.base_port + 4}; logs in {deployment.dir / 'log'}"
        )
    first = deployments[0]
    city = first.cities[0]
    token = first.token("admin", city, f"admin-{city}")
    print(f"\nAdmin token for {city} (12 h):\n{token}\n")
    print("Example call (any RPC, as an outside system would):")
    print(
        f'  .venv/bin/pioneer call stations list_stations \'{{"city": "{city}"}}\' --role admin --city {city}'
        + (f" --deployment {first.name}" if first.name != "shared" else "")
    )
    print(
        "or from Python:\n"
        "  from nameko.standalone.rpc import ClusterRpcProxy\n"
        f"  with ClusterRpcProxy({{'AMQP_URI': '{first.amqp_uri()}'}},\n"
        "                       context_data={'authorization': 'Bearer <token>'}) as rpc:\n"
        f"      rpc.stations.list_stations(city='{city}')"
    )
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from .launcher import load_deployments, stop_deployment

    for deployment in load_deployments():
        stopped = stop_deployment(deployment)
        if stopped:
            print(f"{deployment.name}: stopped {', '.join(stopped)}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .launcher import status

    report = status()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for deployment in report["deployments"]:
        print(f"{deployment['name']} ({', '.join(deployment['cities'])}) {deployment['amqp_uri']}")
        for name, svc in deployment["services"].items():
            state = "ok" if svc["ok"] else ("running, unhealthy" if svc["pid"] else "stopped")
            print(f"  {name:<11} {state:<18} pid {svc['pid'] or '-':<8} {svc['http']}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from .registry import built_services

    deployment = _deployment(args.deployment)
    for service in [args.service] if args.service else built_services():
        path = deployment.log_file(service)
        print(f"==> {path} <==")
        if path.exists():
            print("\n".join(path.read_text(errors="replace").splitlines()[-args.lines :]))
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    from nameko.exceptions import RemoteError

    from .testing.client import RpcClient

    deployment = _deployment(args.deployment)
    token = args.token or deployment.token(args.role, args.city, args.sub or f"cli-{args.role}")
    kwargs = json.loads(args.kwargs) if args.kwargs else {}
    if not isinstance(kwargs, dict):
        print("pioneer: JSON_KWARGS must be an object", file=sys.stderr)
        return 2
    client = RpcClient(deployment.amqp_uri(), f"Bearer {token}", timeout=args.timeout)
    try:
        result = client.call(args.service, args.method, **kwargs)
    except RemoteError as exc:
        print(json.dumps({"error": exc.exc_type, "message": str(exc.value)}, ensure_ascii=False))
        return 1
    finally:
        client.close()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


REPORT_COLUMNS = [
    ("rank", "排名"),
    ("volunteer_id", "志愿者编号"),
    ("points", "积分"),
    ("hours", "服务时长"),
    ("activities", "活动次数"),
    ("wishes", "微心愿"),
    ("requests", "服务工单"),
]


def write_report_csv(path: str, items: list[dict[str, Any]]) -> None:
    """A CSV a spreadsheet opens as is: UTF-8 with a BOM, a header row, one row per volunteer."""
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow([f"{key}/{label}" for key, label in REPORT_COLUMNS])
        for item in items:
            writer.writerow([item[key] for key, _ in REPORT_COLUMNS])


def cmd_report(args: argparse.Namespace) -> int:
    """``points.annual_report`` of a city and year, every page, into a CSV file."""
    from nameko.exceptions import RemoteError

    from .testing.client import RpcClient

    deployment = _deployment(args.deployment) if args.deployment else _serving(args.city)
    token = args.token or deployment.token("admin", args.city, "cli-report")
    client = RpcClient(deployment.amqp_uri(), f"Bearer {token}", timeout=args.timeout)
    items: list[dict[str, Any]] = []
    cursor = None
    try:
        while True:
            page = client.call(
                "points", "annual_report", args.city, args.year, limit=500, cursor=cursor
            )
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    except RemoteError as exc:
        print(json.dumps({"error": exc.exc_type, "message": str(exc.value)}, ensure_ascii=False))
        return 1
    finally:
        client.close()
    write_report_csv(args.out, items)
    print(f"wrote {len(items)} volunteers of {args.city} for {args.year} to {args.out}")
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from .dlq import list_dead_letters, replay_dead_letters

    uri = args.amqp_uri or _deployment(args.deployment).amqp_uri()
    if args.action == "list":
        print(
            json.dumps(
                list_dead_letters(uri, args.service, args.limit),
                indent=2,
                ensure_ascii=False,
                default=str,
            )
        )
    else:
        count = replay_dead_letters(
            uri, args.service, set(args.event_id) if args.event_id else None
        )
        print(f"replayed {count} message(s) from {args.service}.dlq")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .apidocs import render
    from .registry import built_services

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for service in built_services():
        (out / f"{service}.md").write_text(render(service))
        print(f"wrote {out / f'{service}.md'}")
    return 0


def cmd_definitions(args: argparse.Namespace) -> int:
    from .definitions import broker_definitions, topology
    from .registry import built_services

    document = (
        broker_definitions(built_services(), args.vhost, args.user, args.password)
        if args.broker
        else topology(built_services())
    )
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Hand over to the importer a service registers (entry point group ``pioneer.importers``)."""
    from importlib.metadata import entry_points

    importers = {ep.name: ep for ep in entry_points(group="pioneer.importers")}
    if args.kind not in importers:
        known = ", ".join(sorted(importers)) or "none installed"
        print(f"pioneer: no importer for {args.kind!r} ({known})", file=sys.stderr)
        return 2
    return int(importers[args.kind].load()(args.args) or 0)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pioneer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("token", help="print a signed token for the deployment's secret")
    t.add_argument("--city", required=True)
    t.add_argument("--role", required=True, action="append", choices=sorted(auth.ROLES))
    t.add_argument("--sub", required=True)
    t.add_argument("--ttl", type=int, default=3600)
    t.add_argument("--deployment")
    t.set_defaults(func=cmd_token)

    u = sub.add_parser("up", help="start the built services in the background")
    u.add_argument("--federated", action="store_true", help="one deployment per city, federated")
    u.set_defaults(func=cmd_up)

    sub.add_parser("down", help="stop every local deployment").set_defaults(func=cmd_down)

    s = sub.add_parser("status", help="deployments and the health of their services")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    lg = sub.add_parser("logs", help="the last log lines of the services")
    lg.add_argument("service", nargs="?")
    lg.add_argument("--deployment")
    lg.add_argument("-n", "--lines", type=int, default=20)
    lg.set_defaults(func=cmd_logs)

    c = sub.add_parser("call", help="call an RPC method with a token")
    c.add_argument("service")
    c.add_argument("method")
    c.add_argument("kwargs", nargs="?", help="keyword arguments as a JSON object")
    c.add_argument("--token")
    c.add_argument("--role", default="admin", choices=sorted(auth.ROLES))
    c.add_argument("--city", default="cixi")
    c.add_argument("--sub")
    c.add_argument("--deployment")
    c.add_argument("--timeout", type=float, default=30)
    c.set_defaults(func=cmd_call)

    d = sub.add_parser("dlq", help="inspect or replay a service's dead-letter queue")
    d.add_argument("action", choices=["list", "replay"])
    d.add_argument("--service", required=True)
    d.add_argument("--deployment")
    d.add_argument("--amqp-uri")
    d.add_argument("--event-id", action="append")
    d.add_argument("--limit", type=int, default=100)
    d.set_defaults(func=cmd_dlq)

    dc = sub.add_parser("docs", help="write the API reference of every built service")
    dc.add_argument("--out", default="docs/api")
    dc.set_defaults(func=cmd_docs)

    df = sub.add_parser("definitions", help="RabbitMQ topology derived from the code")
    df.add_argument("--out")
    df.add_argument(
        "--broker",
        action="store_true",
        help="a whole broker's definitions (user, vhost, permissions) for load_definitions",
    )
    df.add_argument("--vhost", default="/")
    df.add_argument("--user", default="pioneer")
    df.add_argument("--password", default="pioneer")
    df.set_defaults(func=cmd_definitions)

    r = sub.add_parser("report", help="reports (annual: the points assessment as CSV)")
    r.add_argument("kind", choices=["annual"])
    r.add_argument("--city", required=True)
    r.add_argument("--year", type=int, required=True)
    r.add_argument("--out", required=True, help="the CSV file to write")
    r.add_argument("--token", help="a token (default: an admin token of the deployment)")
    r.add_argument("--deployment")
    r.add_argument("--timeout", type=float, default=60)
    r.set_defaults(func=cmd_report)

    im = sub.add_parser("import", help="bulk import records (e.g. volunteers FILE.csv --city C)")
    im.add_argument("kind", help="what to import: a service's importer (volunteers)")
    im.add_argument("args", nargs=argparse.REMAINDER, help="the importer's own arguments")
    im.set_defaults(func=cmd_import)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    if args.command in {"up", "call", "dlq", "status", "report"}:
        import eventlet

        eventlet.monkey_patch()
    # py-amqp chatters at WARNING when a proxy closes with replies in flight; not for users.
    logging.getLogger("amqp").setLevel(logging.ERROR)
    from .launcher import LaunchError

    try:
        return args.func(args)
    except LaunchError as exc:
        print(f"pioneer: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
