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
import multiprocessing
import os
import re
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from pioneer.catalog import Catalog
from pioneer.db import UnitOfWork, make_engine, migrate
from pioneer.logs import mask_phone

from .schemas import VolunteerIn
from .spreadsheet import RowError, parse_row, phone_of, read_rows
from .store import VolunteersStore
from .usecases.registration import import_batch

CITY_RE = re.compile(r"[a-z][a-z0-9_]{1,31}")


@dataclass
class Report:
    """What an import did: rows read, imported, skipped as already registered, refused (each
    refusal's line, field and reason), and how long it took."""

    rows: int = 0
    imported: int = 0
    already_registered: int = 0
    bad: int = 0
    seconds: float = 0.0
    bad_rows: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, imported: int, already: int, bad_rows: list[tuple[int, str, str]]) -> None:
        """Count a written batch and its refused rows."""
        self.imported += imported
        self.already_registered += already
        self.bad += len(bad_rows)
        self.bad_rows.extend(bad_rows)


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
    # The events go to the outbox (by COPY on PostgreSQL); the running service's relay
    # publishes them.
    return UnitOfWork(engine, [city], store=VolunteersStore, bulk=True)


class _InFileOrder:
    """Rows parsed, checked against the phones of earlier rows and written in batches, in the
    order they are given: the first good row of a phone wins, a later one "repeats line N"."""

    def __init__(
        self,
        engine: Engine,
        city: str,
        catalog: Catalog,
        batch_size: int,
        report: Report,
        on_batch: Callable[[], Any],
    ) -> None:
        self.engine, self.city, self.catalog = engine, city, catalog
        self.batch_size, self.report, self.on_batch = batch_size, report, on_batch
        self.seen: dict[str, int] = {}
        self.batch: list[tuple[int, VolunteerIn]] = []

    def add(self, line: int, record: dict[str, str]) -> None:
        """One row: refused (counted in the report), or queued for the next batch."""
        try:
            volunteer = parse_row(record, self.city, self.catalog)
        except RowError as exc:
            self.report.add(0, 0, [(line, exc.field, exc.reason)])
            return
        first = self.seen.setdefault(volunteer.phone, line)
        if first != line:
            repeat = f"{mask_phone(volunteer.phone)} repeats line {first}"
            self.report.add(0, 0, [(line, "phone", repeat)])
            return
        self.batch.append((line, volunteer))
        if len(self.batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write the queued rows (one transaction)."""
        if self.batch:
            self.report.add(*write_batch(self.engine, self.city, self.batch), [])
            self.batch = []
            self.on_batch()


# A worker process's engine, city and catalog (``_start_worker``).
_worker: dict[str, Any] = {}


def _start_worker(url: str, city: str, catalog: Catalog) -> None:
    _worker.update(engine=make_engine(url, 1), city=city, catalog=catalog)


def _import_chunk(chunk: list[tuple[int, dict[str, str]]]) -> tuple[int, int, list[Any]]:
    """In a worker: parse and write one batch of rows whose phones occur once in the file.
    (imported, already registered, refused rows)."""
    city, catalog = _worker["city"], _worker["catalog"]
    good, bad = [], []
    for line, record in chunk:
        try:
            good.append((line, parse_row(record, city, catalog)))
        except RowError as exc:
            bad.append((line, exc.field, exc.reason))
    imported, already = write_batch(_worker["engine"], city, good) if good else (0, 0)
    return imported, already, bad


def _repeated_phones(path: Path) -> set[str]:
    """The phones on more than one row of the file."""
    once: set[str] = set()
    repeated: set[str] = set()
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for _, record in read_rows(fh):
            phone = phone_of(record)
            (repeated if phone in once else once).add(phone)
    return repeated


def import_file(
    engine: Engine,
    path: Path,
    city: str,
    catalog: Catalog | None = None,
    errors_path: Path | None = None,
    batch_size: int = 1000,
    progress: Callable[[Report, int], None] | None = None,
    jobs: int = 1,
) -> Report:
    """Import ``path`` into ``city``; bad rows go to ``errors_path`` (line, field, reason).

    ``jobs`` > 1: batches are parsed and written by that many worker processes, each with its
    own engine and transactions, while this one reads the file. Rows whose phone occurs more
    than once in the file are kept back and handled here afterwards, in file order, so the
    report is the same as with one job."""
    catalog = catalog or Catalog()
    report = Report()
    started = time.perf_counter()
    with open(path, encoding="utf-8-sig", newline="") as fh:
        total = max(sum(1 for _ in fh) - 1, 0)

    def on_batch() -> None:
        if progress:
            progress(report, total)

    in_order = _InFileOrder(engine, city, catalog, batch_size, report, on_batch)
    kept_back: list[tuple[int, dict[str, str]]] = []
    try:
        repeated = _repeated_phones(path) if jobs > 1 else set()
    except RowError:
        repeated = set()  # a bad header: refused below
    with (
        open(path, encoding="utf-8-sig", newline="") as fh,
        _Workers(
            engine, city, catalog, jobs, report, lambda: progress and progress(report, total)
        ) as workers,
    ):
        try:
            for line, record in read_rows(fh):
                report.rows += 1
                if "__error__" in record:
                    report.add(0, 0, [(line, "", record["__error__"])])
                elif workers.running and phone_of(record) not in repeated:
                    workers.add(line, record, batch_size)
                elif workers.running:
                    kept_back.append((line, record))
                else:
                    in_order.add(line, record)
        except RowError as exc:
            report.add(0, 0, [(1, exc.field, exc.reason)])
    for line, record in kept_back:
        in_order.add(line, record)
    in_order.flush()
    on_batch()
    report.bad_rows.sort()
    report.seconds = time.perf_counter() - started
    errors_path = errors_path or path.with_name(path.name + ".errors.csv")
    with open(errors_path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "field", "reason"])
        writer.writerows(report.bad_rows)
    return report


class _Workers:
    """``jobs`` worker processes taking batches of rows (none for one job). At most two batches
    per worker wait, so the file is read no faster than it is written."""

    def __init__(
        self,
        engine: Engine,
        city: str,
        catalog: Catalog,
        jobs: int,
        report: Report,
        on_batch: Callable[[], Any],
    ) -> None:
        self.pool: ProcessPoolExecutor | None = None
        if jobs > 1:
            url = engine.url.render_as_string(hide_password=False)
            self.pool = ProcessPoolExecutor(
                jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(url, city, catalog),
            )
        self.limit = 2 * jobs
        self.report, self.on_batch = report, on_batch
        self.chunk: list[tuple[int, dict[str, str]]] = []
        self.pending: set[Future] = set()

    @property
    def running(self) -> bool:
        """Whether batches go to worker processes."""
        return self.pool is not None

    def add(self, line: int, record: dict[str, str], batch_size: int) -> None:
        """Queue a row; a full batch goes to a worker."""
        self.chunk.append((line, record))
        if len(self.chunk) >= batch_size:
            self._submit()

    def _submit(self) -> None:
        assert self.pool is not None
        if self.chunk:
            self.pending.add(self.pool.submit(_import_chunk, self.chunk))
            self.chunk = []
        while len(self.pending) >= self.limit:
            self._collect(FIRST_COMPLETED)

    def _collect(self, return_when: str) -> None:
        done, self.pending = wait(self.pending, return_when=return_when)
        for future in done:
            self.report.add(*future.result())
            self.on_batch()

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.pool is None:
            return
        try:
            if exc_type is None:
                self._submit()
                self._collect(ALL_COMPLETED)
        finally:
            self.pool.shutdown(cancel_futures=exc_type is not None)


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
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes parsing and writing batches (default: one per core)",
    )
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
            max(1, min(args.jobs, 32)),
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
