"""Streaming catalog comparison: two ``CatalogSource`` streams merged on SKU, in flat memory.

Neither vendor delivers its catalog in an order the other shares (Shopify's bulk file follows
variant ids, NetSuite's pages internal ids), so each stream is spilled as it arrives into a
SQLite file of its own in a temporary directory (one row per SKU, keyed by SKU), and the join
is one SQL query over the two tables. Memory holds one batch of rows and SQLite's page cache,
whatever the catalog's size; both streams are read at once, so the slower vendor sets the pace.

``scan_catalogs(storefront, erp, rule)`` returns a ``Scan``: how many SKUs were compared, why the
others were not, the gaps over ``rule.threshold`` (largest first) and, for SKUs flagged
earlier, this run's quantities. Close it (or use it as a context manager) to delete the file.
A source that fails raises its ``AdapterError`` here, after the other stream is cancelled.

``DriftSettings`` is the stack config's ``[drift]`` table (which quantity, which locations);
with ``[thresholds] drift_units`` it makes the ``CompareRule`` a scan follows.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.models import CatalogStock, QuantityKind
from tools.protocols import CatalogSource

BATCH = 5_000  # rows per insert: big enough to amortise the call, small enough to not matter
_CACHE_KIB = 16_384  # SQLite page cache for the spill file


@dataclass(frozen=True)
class CompareRule:
    """How the two figures are compared: which quantity, summed over which locations (None:
    every location), and the gap (units, exclusive) that flags a SKU."""

    measure: QuantityKind = "available"
    threshold: int = 5
    storefront_locations: tuple[str, ...] | None = None
    erp_locations: tuple[str, ...] | None = None


class DriftSettings(BaseModel):
    """The stack config's ``[drift]`` table: how the drift check compares the two systems.
    The gap that flags a SKU is ``[thresholds] drift_units`` (default 5 units)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    measure: QuantityKind = Field(
        "available", description="the quantity compared on both sides: available or on_hand"
    )
    erp_locations: list[str] | None = Field(
        None, description="ERP location ids whose sum is the ERP figure (default: every one)"
    )
    storefront_locations: list[str] | None = Field(
        None, description="storefront location ids to sum (default: every one)"
    )

    @field_validator("erp_locations", "storefront_locations")
    @classmethod
    def _some(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not [v for v in value if v.strip()]:
            raise ValueError("name at least one location id, or leave the key out for all")
        return value

    def rule(self, threshold: int) -> CompareRule:
        return CompareRule(
            measure=self.measure,
            threshold=threshold,
            storefront_locations=_ids(self.storefront_locations),
            erp_locations=_ids(self.erp_locations),
        )


def _ids(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(v.strip() for v in values if v.strip())


@dataclass(frozen=True)
class Pair:
    """One SKU's two figures in this scan."""

    sku: str
    storefront: int
    erp: int
    storefront_record: str | None
    erp_record: str | None

    @property
    def gap(self) -> int:
        return self.storefront - self.erp


@dataclass(frozen=True)
class Counts:
    storefront_rows: int
    erp_rows: int
    compared: int
    storefront_only: int
    erp_only: int
    untracked: int
    duplicate_skus: int


_SCHEMA = """
CREATE TABLE sf (sku TEXT PRIMARY KEY, qty INTEGER, record TEXT, tracked INTEGER, n INTEGER)
    WITHOUT ROWID;
CREATE TABLE erp (sku TEXT PRIMARY KEY, qty INTEGER, record TEXT, n INTEGER) WITHOUT ROWID;
"""
_INSERT = {
    "sf": "INSERT INTO sf VALUES (?, ?, ?, ?, 1) ON CONFLICT(sku) DO UPDATE SET n = n + 1",
    "erp": "INSERT INTO erp VALUES (?, ?, ?, 1) ON CONFLICT(sku) DO UPDATE SET n = n + 1",
}
# A SKU is compared when each system lists it once and the storefront tracks its inventory.
_COMPARED = "FROM sf JOIN erp USING (sku) WHERE sf.n = 1 AND erp.n = 1 AND sf.tracked = 1"


class Scan:
    """The spilled catalogs of one run, and what comparing them found."""

    def __init__(self, directory: Path, db: sqlite3.Connection, rule: CompareRule) -> None:
        self.rule = rule
        self._directory = directory
        self._db = db
        self._rows = {"sf": 0, "erp": 0}
        self._counts: Counts | None = None

    def __enter__(self) -> Scan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    async def _fill(self, table: str, rows: AsyncIterator[CatalogStock]) -> None:
        sql = _INSERT[table]
        batch: list[tuple[object, ...]] = []
        async for row in rows:
            if table == "sf":
                batch.append((row.sku, row.quantity, row.record, row.tracked))
            else:
                batch.append((row.sku, row.quantity, row.record))
            if len(batch) >= BATCH:
                self._db.executemany(sql, batch)
                self._rows[table] += len(batch)
                batch = []
        self._db.executemany(sql, batch)
        self._rows[table] += len(batch)

    def counts(self) -> Counts:
        if self._counts is None:

            def one(sql: str) -> int:
                return int(self._db.execute(sql).fetchone()[0])

            self._counts = Counts(
                storefront_rows=self._rows["sf"],
                erp_rows=self._rows["erp"],
                compared=one(f"SELECT count(*) {_COMPARED}"),
                storefront_only=one(
                    "SELECT count(*) FROM sf WHERE n = 1 AND tracked = 1"
                    " AND NOT EXISTS (SELECT 1 FROM erp WHERE erp.sku = sf.sku)"
                ),
                erp_only=one(
                    "SELECT count(*) FROM erp WHERE n = 1"
                    " AND NOT EXISTS (SELECT 1 FROM sf WHERE sf.sku = erp.sku)"
                ),
                untracked=one("SELECT count(*) FROM sf WHERE n = 1 AND tracked = 0"),
                duplicate_skus=one(
                    "SELECT count(*) FROM (SELECT sku FROM sf WHERE n > 1"
                    " UNION SELECT sku FROM erp WHERE n > 1)"
                ),
            )
        return self._counts

    def gaps(self) -> Iterator[Pair]:
        """Every compared SKU whose figures differ by more than the threshold, largest first."""
        cursor = self._db.execute(
            "SELECT sku, sf.qty, erp.qty, sf.record, erp.record "
            f"{_COMPARED} AND abs(sf.qty - erp.qty) > ? "
            "ORDER BY abs(sf.qty - erp.qty) DESC, sku",
            [self.rule.threshold],
        )
        for row in cursor:
            yield Pair(*row)

    def pairs(self, skus: Iterable[str]) -> dict[str, Pair]:
        """This scan's figures for ``skus``, for those it compared (others are left out)."""
        out: dict[str, Pair] = {}
        wanted = list(skus)
        for start in range(0, len(wanted), 500):  # SQLite caps the number of parameters
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            cursor = self._db.execute(
                "SELECT sku, sf.qty, erp.qty, sf.record, erp.record "
                f"{_COMPARED} AND sku IN ({marks})",
                chunk,
            )
            for row in cursor:
                out[row[0]] = Pair(*row)
        return out


def _spill() -> tuple[Path, sqlite3.Connection]:
    directory = Path(tempfile.mkdtemp(prefix="oos-drift-"))
    db = sqlite3.connect(directory / "scan.db", isolation_level=None)
    # A scratch file: nothing to recover after a crash, so no journal and no fsync.
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
    db.executescript(_SCHEMA)
    return directory, db


async def scan_catalogs(storefront: CatalogSource, erp: CatalogSource, rule: CompareRule) -> Scan:
    """Read both catalogs at once and spill them; the returned ``Scan`` answers from the spill."""
    directory, db = _spill()
    scan = Scan(directory, db, rule)
    db.execute("BEGIN")
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(
                scan._fill(
                    "sf",
                    storefront.catalog_stock(
                        measure=rule.measure, locations=rule.storefront_locations
                    ),
                )
            )
            group.create_task(
                scan._fill(
                    "erp", erp.catalog_stock(measure=rule.measure, locations=rule.erp_locations)
                )
            )
        db.execute("COMMIT")
    except BaseExceptionGroup as failed:
        scan.close()
        raise _first(failed) from None
    except BaseException:
        scan.close()
        raise
    return scan


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that stopped the scan (a sibling's cancellation is not one)."""
    leaf = group.exceptions[0]
    return _first(leaf) if isinstance(leaf, BaseExceptionGroup) else leaf
