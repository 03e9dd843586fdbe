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
pioneer report KIND [...]         a report a service registers (`pioneer report annual --city C
                                  --year Y --out FILE.csv`: points' annual assessment as CSV)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from typing import Any

from . import auth


def _deployment(name: str | None) -> Any:
    from .launcher import local_deployment

    return local_deployment(name)


def cmd_token(args: argparse.Namespace) -> int:
    """A token scoped to a deployment (``iss``/``aud``), no longer-lived than its roles allow."""
    longest = auth.max_ttl_s(args.role)
    if args.ttl > longest:
        print(
            f"pioneer: --ttl {args.ttl} is longer than {', '.join(args.role)} may live "
            f"({longest} s)",
            file=sys.stderr,
        )
        return 2
    secret = os.environ.get("JWT_SECRET")
    if secret:
        name = args.deployment or os.environ.get("DEPLOYMENT", "shared")
    else:
        deployment = _deployment(args.deployment)
        secret, name = deployment.secret, deployment.name
    print(auth.issue_token(secret, args.sub, args.city, args.role, args.ttl, name))
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from .launcher import plan_federated, plan_shared, up

    plan = plan_federated if args.federated else plan_shared
    deployments = plan(args.db, args.replicas)
    up(deployments)
    for deployment in deployments:
        print(
            f"{deployment.name}: cities {', '.join(deployment.cities)} on {deployment.amqp_uri(masked=True)}; "
            f"HTTP {deployment.base_port}-{deployment.base_port + 4}"
            + (f", {deployment.replicas} replicas each" if deployment.replicas > 1 else "")
            + f"; logs in {deployment.dir / 'log'}"
        )
    first = deployments[0]
    city = first.cities[0]
    token = first.token("admin", city, f"admin-{city}")
    print(f"\nAdmin token for {city} (12 h):\n{token}\n")
    print(
        "Broker users (RPC-only client, one per service, federation, ops) and their passwords: "
        f"{first.dir / 'deployment.json'}\n"
    )
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


def cmd_purge(args: argparse.Namespace) -> int:
    from .launcher import drop_databases, load_deployments, stop_deployment

    for deployment in load_deployments():
        stop_deployment(deployment)
        drop_databases(deployment)
        if deployment.database == "postgres":
            print(f"{deployment.name}: dropped its PostgreSQL databases and roles")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .launcher import status

    report = status()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for deployment in report["deployments"]:
        print(f"{deployment['name']} ({', '.join(deployment['cities'])}) {deployment['amqp_uri']}")
        for name in deployment["services"]:
            for replica in deployment["replicas"][name]:
                label = name if replica["replica"] == 1 else f"{name}-{replica['replica']}"
                running = "running, unhealthy" if replica["pid"] else "stopped"
                state = "ok" if replica["ok"] else running
                print(f"  {label:<13} {state:<18} pid {replica['pid'] or '-':<8} {replica['http']}")
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

    from .rpcclient import RpcClient

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


def _hand_over(group: str, what: str, args: argparse.Namespace) -> int:
    """Run the command a service registers under ``args.kind`` in the entry point ``group``."""
    from .registry import commands

    registered = commands(group)
    if args.kind not in registered:
        known = ", ".join(sorted(registered)) or "none installed"
        print(f"pioneer: no {what} {args.kind!r} ({known})", file=sys.stderr)
        return 2
    return int(registered[args.kind].load()(args.args) or 0)


def cmd_report(args: argparse.Namespace) -> int:
    """Hand over to the report a service registers (entry point group ``pioneer.reports``)."""
    return _hand_over("pioneer.reports", "report", args)


def cmd_dlq(args: argparse.Namespace) -> int:
    from .dlq import list_dead_letters, replay_dead_letters

    # The service's own broker user may read and replay its dead letters; no other may.
    uri = args.amqp_uri or _deployment(args.deployment).amqp_uri(role=args.service)
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
        broker_definitions(built_services(), args.vhost, args.user_prefix)
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


def cmd_manifests(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .manifests import kustomization, manifests, render

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, documents in {**manifests(), "kustomization.yaml": [kustomization()]}.items():
        (out / name).write_text(render(documents))
        print(f"wrote {out / name}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Hand over to the importer a service registers (entry point group ``pioneer.importers``)."""
    return _hand_over("pioneer.importers", "importer for", args)


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
    u.add_argument(
        "--db",
        choices=["sqlite", "postgres"],
        help="a new deployment's storage (default sqlite; postgres: a role and database per"
        " service on PIONEER_POSTGRES); a recorded deployment keeps its own",
    )
    u.add_argument(
        "--replicas",
        type=int,
        help="processes per service on the same queues (default 1, or what the deployment"
        " recorded; more than one needs --db postgres)",
    )
    u.set_defaults(func=cmd_up)

    sub.add_parser("down", help="stop every local deployment").set_defaults(func=cmd_down)
    sub.add_parser(
        "purge", help="stop every local deployment and drop its PostgreSQL databases (make clean)"
    ).set_defaults(func=cmd_purge)

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

    mf = sub.add_parser("manifests", help="Kubernetes manifests derived from the code")
    mf.add_argument("--out", default="deploy/k8s")
    mf.set_defaults(func=cmd_manifests)

    df = sub.add_parser("definitions", help="RabbitMQ topology derived from the code")
    df.add_argument("--out")
    df.add_argument(
        "--broker",
        action="store_true",
        help="a whole broker's definitions (vhost, users without passwords, permissions) "
        "for load_definitions",
    )
    df.add_argument("--vhost", default="/")
    df.add_argument(
        "--user-prefix",
        default="pioneer-",
        help="users are <prefix><service|client|federation|ops>",
    )
    df.set_defaults(func=cmd_definitions)

    r = sub.add_parser("report", help="a service's report (annual: the points assessment as CSV)")
    r.add_argument("kind", help="which report: one a service registers (annual)")
    r.add_argument("args", nargs=argparse.REMAINDER, help="the report's own arguments")
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
