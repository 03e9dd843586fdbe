"""``pioneer report annual --city C --year Y --out FILE.csv``: the annual assessment as a CSV a
spreadsheet opens as is (UTF-8 with a BOM, a header row, one row per volunteer, by rank).

It reads every page of ``points.annual_report`` over RPC from the local deployment serving the
city (or ``--deployment``), with an admin token of that deployment unless ``--token`` is given.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

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
    """The report's rows into ``path``, with bilingual column names."""
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow([f"{key}/{label}" for key, label in REPORT_COLUMNS])
        for item in items:
            writer.writerow([item[key] for key, _ in REPORT_COLUMNS])


def main(argv: list[str]) -> int:
    """The ``pioneer.reports`` entry point ``annual``."""
    from nameko.exceptions import RemoteError

    from pioneer.launcher import local_deployment
    from pioneer.rpcclient import RpcClient

    parser = argparse.ArgumentParser(prog="pioneer report annual", description=__doc__)
    parser.add_argument("--city", required=True)
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--out", required=True, help="the CSV file to write")
    parser.add_argument("--token", help="a token (default: an admin token of the deployment)")
    parser.add_argument("--deployment")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args(argv)
    deployment = local_deployment(args.deployment, args.city)
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
