"""``pioneer import volunteers FILE.csv --city haining``: bring a city's spreadsheet in.

The file is CSV (UTF-8, with or without a BOM) with a header row. Columns, in any order (English
or Chinese names):

    name 姓名 | phone 手机 | district 街道 | community 社区 | is_party_member 是否党员 |
    party_branch 党支部 | skills 技能 | lat 纬度 | lon 经度 | availability 服务时间

``skills`` are service codes separated by ``;``, ``|``, ``、`` or ``,``; ``is_party_member`` is
``1/0``, ``true/false``, ``yes/no`` or ``是/否`` (empty: no); ``availability`` is
``RRULE@HH:MM-HH:MM`` entries separated by ``|`` (``FREQ=WEEKLY;BYDAY=SA,SU@08:00-12:00``).

Every row is validated exactly as ``register`` validates it. Good rows are written in batches,
each row with its skills and its ``volunteer_registered`` event (the outbox: the running service
publishes it) in the same transaction, so no row is ever half-imported. Bad rows are reported,
line and reason, in a CSV next to the file (``FILE.errors.csv``). A phone already registered in
the city is skipped, so the same file can be imported again without duplicating anyone.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from pioneer.catalog import Catalog
from pioneer.db import UnitOfWork, make_engine, migrate
from pioneer.errors import ValidationError
from pioneer.logs import mask_phone
from pioneer.schemas import validate

from .schemas import VolunteerIn
from .store import VolunteersStore
from .usecases.registration import import_batch

COLUMNS = {
    "name": "name",
    "姓名": "name",
    "phone": "phone",
    "手机": "phone",
    "手机号": "phone",
    "district": "district",
    "街道": "district",
    "镇街": "district",
    "community": "community",
    "社区": "community",
    "村社": "community",
    "is_party_member": "is_party_member",
    "是否党员": "is_party_member",
    "party_branch": "party_branch",
    "党支部": "party_branch",
    "skills": "skills",
    "技能": "skills",
    "lat": "lat",
    "纬度": "lat",
    "lon": "lon",
    "经度": "lon",
    "availability": "availability",
    "服务时间": "availability",
}
REQUIRED = ("name", "phone", "district", "community")
TRUE = {"1", "true", "yes", "y", "是", "t"}
FALSE = {"", "0", "false", "no", "n", "否", "f"}
SKILL_SEPARATORS = ";|、,，"
CITY_RE = re.compile(r"[a-z][a-z0-9_]{1,31}")


class RowError(ValueError):
    """A row that cannot be imported; ``field`` and the message say why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


@dataclass
class Report:
    rows: int = 0
    imported: int = 0
    already_registered: int = 0
    bad: int = 0
    seconds: float = 0.0
    bad_rows: list[tuple[int, str, str]] = field(default_factory=list)


def _split_skills(text: str) -> list[str]:
    for separator in SKILL_SEPARATORS[1:]:
        text = text.replace(separator, SKILL_SEPARATORS[0])
    return [part.strip() for part in text.split(SKILL_SEPARATORS[0]) if part.strip()]


def _availability(text: str) -> list[dict[str, str]]:
    windows = []
    for index, entry in enumerate(part.strip() for part in text.split("|") if part.strip()):
        rule, at, hours = entry.rpartition("@")
        start, dash, end = hours.partition("-")
        if not at or not dash:
            raise RowError(f"availability.{index}", "expected RRULE@HH:MM-HH:MM")
        windows.append({"rrule": rule.strip(), "start": start.strip(), "end": end.strip()})
    return windows


def _coordinate(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise RowError(name, "not a number") from None


def parse_row(record: dict[str, str], city: str, catalog: Catalog) -> VolunteerIn:
    """A spreadsheet row as validated ``register`` input (``RowError`` naming the field)."""
    for name in REQUIRED:
        if not record.get(name, "").strip():
            raise RowError(name, "required")
    party = record.get("is_party_member", "").strip().lower()
    if party not in TRUE | FALSE:
        raise RowError("is_party_member", "expected yes/no (1/0, true/false, 是/否)")
    data: dict[str, Any] = {
        "name": record["name"],
        "phone": record["phone"].strip().replace(" ", "").replace("-", ""),
        "city": city,
        "district": record["district"],
        "community": record["community"],
        "is_party_member": party in TRUE,
        "skills": _split_skills(record.get("skills", "")),
        "availability": _availability(record.get("availability", "")),
    }
    if record.get("party_branch", "").strip():
        data["party_branch"] = record["party_branch"]
    lat, lon = record.get("lat", "").strip(), record.get("lon", "").strip()
    if lat or lon:
        if not (lat and lon):
            raise RowError("lat" if not lat else "lon", "give both lat and lon, or neither")
        data["location"] = {"lat": _coordinate(lat, "lat"), "lon": _coordinate(lon, "lon")}
    try:
        volunteer = validate(VolunteerIn, data)
    except ValidationError as exc:
        # A rule across fields (repeated skills, a branch without membership) names the row.
        raise RowError("row" if exc.field == "arguments" else exc.field, exc.problem) from None
    try:
        catalog.require_known(city, "skills", volunteer.skills)
    except ValidationError as exc:
        raise RowError(exc.field, exc.problem) from None
    return volunteer


def read_rows(fh: TextIO) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row by canonical column name); the header is line 1."""
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except StopIteration:
        return
    names = [
        COLUMNS.get(h.strip().lstrip("\ufeff").lower(), COLUMNS.get(h.strip())) for h in header
    ]
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise RowError("header", f"missing column(s): {', '.join(missing)}")
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(names):
            yield line, {"__error__": f"{len(values)} values for {len(names)} columns"}
            continue
        yield line, {n: v for n, v in zip(names, values, strict=False) if n}


def write_batch(engine: Engine, city: str, batch: list[tuple[int, VolunteerIn]]) -> tuple[int, int]:
    """A batch at once (``registration.import_batch``); if someone registered one of its phones
    meanwhile, row by row. (imported, already registered)."""
    try:
        return import_batch(_unit_of_work(engine, city), city, [v for _, v in batch])
    except IntegrityError:
        imported = skipped = 0
        for _, volunteer in batch:
            try:
                done, already = import_batch(_unit_of_work(engine, city), city, [volunteer])
            except IntegrityError:
                done, already = 0, 1
            imported, skipped = imported + done, skipped + already
        return imported, skipped


def _unit_of_work(engine: Engine, city: str) -> UnitOfWork:
    # The events go to the outbox; the running service's relay publishes them.
    return UnitOfWork(engine, [city], store=VolunteersStore)


def import_file(
    engine: Engine,
    path: Path,
    city: str,
    catalog: Catalog | None = None,
    errors_path: Path | None = None,
    batch_size: int = 1000,
    progress: Callable[[Report, int], None] | None = None,
) -> Report:
    """Import ``path`` into ``city``; bad rows go to ``errors_path`` (line, field, reason)."""
    catalog = catalog or Catalog()
    report = Report()
    started = time.perf_counter()
    with open(path, encoding="utf-8-sig", newline="") as fh:
        total = max(sum(1 for _ in fh) - 1, 0)
    seen: dict[str, int] = {}
    batch: list[tuple[int, VolunteerIn]] = []

    def flush() -> None:
        if batch:
            done, already = write_batch(engine, city, batch)
            report.imported += done
            report.already_registered += already
            batch.clear()
        if progress:
            progress(report, total)

    def bad(line: int, field_name: str, reason: str) -> None:
        report.bad += 1
        report.bad_rows.append((line, field_name, reason))

    with open(path, encoding="utf-8-sig", newline="") as fh:
        try:
            for line, record in read_rows(fh):
                report.rows += 1
                if "__error__" in record:
                    bad(line, "", record["__error__"])
                    continue
                try:
                    volunteer = parse_row(record, city, catalog)
                except RowError as exc:
                    bad(line, exc.field, exc.reason)
                    continue
                first = seen.setdefault(volunteer.phone, line)
                if first != line:
                    bad(line, "phone", f"{mask_phone(volunteer.phone)} repeats line {first}")
                    continue
                batch.append((line, volunteer))
                if len(batch) >= batch_size:
                    flush()
        except RowError as exc:
            bad(1, exc.field, exc.reason)
        flush()
    report.seconds = time.perf_counter() - started
    errors_path = errors_path or path.with_name(path.name + ".errors.csv")
    with open(errors_path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "field", "reason"])
        writer.writerows(report.bad_rows)
    return report


def _progress_bar(stream: TextIO) -> Callable[[Report, int], None]:
    started = time.perf_counter()

    def show(report: Report, total: int) -> None:
        done = report.rows
        share = done / total if total else 1.0
        filled = int(share * 30)
        rate = done / max(time.perf_counter() - started, 1e-6)
        stream.write(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {share:4.0%} {done:,}/{total:,} rows"
            f"  {report.imported:,} imported, {report.bad:,} bad  {rate:,.0f} rows/s"
        )
        stream.flush()

    return show


def _database_url(args: argparse.Namespace) -> tuple[str, list[str] | None]:
    if args.database_url:
        return args.database_url, None
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"], None
    from pioneer.launcher import load_deployment, load_deployments

    if args.deployment:
        deployment = load_deployment(args.deployment)
    else:
        found = load_deployments()
        if not found:
            raise SystemExit(
                "pioneer import: no local deployment (run `make up`) and no --database-url"
            )
        deployment = next((d for d in found if args.city in d.cities), found[0])
    return deployment.database_url("volunteers"), deployment.cities


def _catalog() -> Catalog:
    """The base catalog plus the cities' own codes from the service's config, where readable."""
    from pioneer.config import ServiceCodeInfo, load_yaml_config
    from pioneer.registry import config_path

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nameko's YAML loader imports pkg_resources
            config = load_yaml_config(config_path("volunteers"))
        extras = config.get("SERVICE_CODES") or {}
        return Catalog(
            {
                city: {
                    code: ServiceCodeInfo.model_validate(info).model_dump()
                    for code, info in codes.items()
                }
                for city, codes in extras.items()
            }
        )
    except Exception:
        return Catalog()


def refresh_statistics(engine: Engine) -> None:
    """Let the query planner see the city as it now is (``VolunteersStore.refresh_statistics``)."""
    with engine.begin() as connection:
        VolunteersStore(connection).refresh_statistics()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pioneer import volunteers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--city", required=True)
    parser.add_argument("--database-url", help="default: DATABASE_URL, else the local deployment's")
    parser.add_argument(
        "--deployment", help="the local deployment (default: the one serving --city)"
    )
    parser.add_argument("--errors", type=Path, help="bad-rows report (default: FILE.errors.csv)")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not CITY_RE.fullmatch(args.city):
        print(f"pioneer import: --city {args.city!r} is not a city name", file=sys.stderr)
        return 2
    if not args.file.is_file():
        print(f"pioneer import: no file {args.file}", file=sys.stderr)
        return 2
    url, cities = _database_url(args)
    if cities is not None and args.city not in cities:
        print(
            f"pioneer import: the deployment serves {', '.join(cities)}, not {args.city}",
            file=sys.stderr,
        )
        return 2
    engine = make_engine(url, 2)
    try:
        migrate(engine, Path(__file__).parent / "migrations")
        report = import_file(
            engine,
            args.file,
            args.city,
            _catalog(),
            args.errors,
            max(1, min(args.batch, 10_000)),
            None if args.quiet else _progress_bar(sys.stderr),
        )
        refresh_statistics(engine)
    finally:
        engine.dispose()
    if not args.quiet:
        sys.stderr.write("\n")
    errors = args.errors or args.file.with_name(args.file.name + ".errors.csv")
    print(
        f"{report.rows:,} rows in {report.seconds:.1f} s: {report.imported:,} imported, "
        f"{report.already_registered:,} already registered, {report.bad:,} bad"
        + (f" (line and reason in {errors})" if report.bad else "")
    )
    return 0
