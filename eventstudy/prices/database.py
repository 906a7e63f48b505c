"""The DuckDB file behind the price store: its schema, its default place, and connections that wait for a
writer's lock and turn damage into a message that says how to rebuild."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import platformdirs

from eventstudy.errors import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    batch_id INTEGER PRIMARY KEY, kind VARCHAR NOT NULL, source VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL, content_hash VARCHAR NOT NULL, rows BIGINT NOT NULL,
    new BIGINT NOT NULL, filled BIGINT NOT NULL, replaced BIGINT NOT NULL, detail VARCHAR);
CREATE TABLE IF NOT EXISTS prices (
    ticker VARCHAR NOT NULL, date DATE NOT NULL, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE,
    adj_close DOUBLE, volume DOUBLE, currency VARCHAR, batch_id INTEGER NOT NULL,
    PRIMARY KEY (ticker, date));
CREATE TABLE IF NOT EXISTS ranges (
    ticker VARCHAR NOT NULL, start DATE NOT NULL, "end" DATE NOT NULL, batch_id INTEGER NOT NULL,
    PRIMARY KEY (ticker, start, "end"));
"""
DAMAGE = ("not a valid DuckDB database", "Could not read enough bytes", "Corrupt database", "checksum")


def default_path() -> Path:
    """``$EVENTSTUDY_HOME/prices.duckdb``, else ``prices.duckdb`` in the platform's user cache directory."""
    home = os.environ.get("EVENTSTUDY_HOME")
    base = Path(home) if home else Path(platformdirs.user_cache_dir("eventstudy"))
    return base / "prices.duckdb"


def damaged(path: Path, exc: Exception) -> StoreError:
    """The error for a store file DuckDB cannot read, with how to rebuild it."""
    reason = str(exc).splitlines()[0]
    return StoreError(
        f"store {path} is damaged ({reason}); move it aside and rebuild it: "
        f"eventstudy prices --store {path} rebuild --from PATH... "
        "(then fetch any Yahoo-only tickers again with eventstudy prices fetch)"
    )


def refuse_foreign_file(path: Path) -> None:
    """Refuse a file that is not a DuckDB database (DuckDB would try to download an extension to read SQLite)."""
    if not path.is_file():
        return
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise StoreError(f"store {path} cannot be read ({exc.strerror or exc}): check its permissions") from exc
    if head.startswith(b"SQLite format 3"):
        raise StoreError(
            f"store {path} is a SQLite database, not an eventstudy price store (DuckDB): give a new file name with "
            "--store, or export the SQLite prices to CSV and run eventstudy prices import"
        )


@contextmanager
def connect(path: Path, write: bool, lock_timeout: float) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """A connection for one operation; None for a read of a store that does not exist yet."""
    if not write and not path.exists():
        yield None
        return
    refuse_foreign_file(path)
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            con = duckdb.connect(str(path), read_only=not write)
            break
        except duckdb.Error as exc:
            msg = str(exc)
            if "Could not set lock" in msg:
                if time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                pid = re.search(r"PID (\d+)", msg)
                who = f" (pid {pid.group(1)})" if pid else ""
                raise StoreError(
                    f"store {path} is locked by another eventstudy process{who}; "
                    f"waited {lock_timeout:g} s. Wait for it to finish or use --store PATH"
                ) from None
            if any(s in msg for s in DAMAGE):
                raise damaged(path, exc) from None
            if "version number" in msg:
                raise StoreError(
                    f"store {path} was written by another duckdb version ({msg.splitlines()[0]}); "
                    f"install duckdb {duckdb.__version__}'s counterpart or rebuild it with "
                    f"eventstudy prices --store {path} rebuild --from PATH..."
                ) from None
            raise StoreError(f"cannot open store {path}: {msg.splitlines()[0]}") from None
    try:
        if write:
            con.execute(SCHEMA)
        elif not has_schema(con):
            con.close()
            yield None
            return
        yield con
    except duckdb.Error as exc:
        if any(s in str(exc) for s in DAMAGE):
            raise damaged(path, exc) from None
        raise
    finally:
        con.close()


def has_schema(con: duckdb.DuckDBPyConnection) -> bool:
    names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    return {"prices", "batches", "ranges"} <= names
