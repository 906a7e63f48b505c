"""The local price store: one DuckDB file of daily prices per ticker and session, with provenance.

Every import or fetch is one transaction: it is written whole or not at all (a crash or ``kill -9`` half-way
leaves the store as it was). Re-importing the same data changes nothing. A value that differs from the stored
one for the same ticker, session and column is a conflict: it is reported with both values and not written
unless ``replace=True``. DuckDB lets one process write a file at a time; a second one waits up to
``lock_timeout`` seconds and then gets a :class:`~eventstudy.errors.StoreError` saying so.

Tables: ``prices`` (ticker, date, open, high, low, close, adj_close, volume, currency, batch_id; key ticker +
date), ``batches`` (batch_id, kind, source, created_at, content_hash, rows, new, filled, replaced, detail) and
``ranges`` (ticker, start, end, batch_id: the date ranges a batch vouches for, so a ticker that did not trade
on some sessions of a range is not fetched again for them).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import platformdirs

from eventstudy.calendar import sessions, venue_of
from eventstudy.errors import FetchError, PriceDataError, StoreError
from eventstudy.quality import VALUE_COLUMNS, QualityReport, check_prices, currency_of

FRAME_COLUMNS = ["date", "ticker", *VALUE_COLUMNS]
Gaps = dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]
Progress = Callable[[int, int], None]

_SCHEMA = """
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
_DAMAGE = ("not a valid DuckDB database", "Could not read enough bytes", "Corrupt database", "checksum")
_CHUNK = 50_000


def default_path() -> Path:
    """``$EVENTSTUDY_HOME/prices.duckdb``, else ``prices.duckdb`` in the platform's user cache directory."""
    home = os.environ.get("EVENTSTUDY_HOME")
    base = Path(home) if home else Path(platformdirs.user_cache_dir("eventstudy"))
    return base / "prices.duckdb"


@dataclass
class ImportReport:
    """What one import or fetch did.

    ``batch_id`` is None when nothing was written (all rows already stored, or only conflicts).
    ``per_ticker`` has ``ticker, rows, new, filled, replaced, unchanged, conflicts``; ``conflicts`` has
    ``ticker, date, column, stored, incoming``; ``quality`` holds the data checks.
    """

    source: str
    content_hash: str
    rows: int
    new: int
    filled: int
    replaced: int
    unchanged: int
    conflicts: pd.DataFrame
    per_ticker: pd.DataFrame
    quality: QualityReport
    batch_id: int | None = None
    replace: bool = False

    @property
    def changed(self) -> bool:
        return self.batch_id is not None

    def summary(self) -> str:
        head = f"{self.source}: {self.rows} rows of {len(self.per_ticker)} tickers"
        if not self.changed and not len(self.conflicts):
            return f"{head}; nothing new, all rows already in the store"
        parts = [f"{self.new} new", f"{self.filled} filled in", f"{self.unchanged} unchanged"]
        if self.replace:
            parts.append(f"{self.replaced} replaced")
        elif len(self.conflicts):
            rows = self.conflicts[["ticker", "date"]].drop_duplicates().shape[0]
            parts.append(f"{rows} conflicting rows kept as stored (use --replace to overwrite)")
        batch = f" (batch {self.batch_id})" if self.changed else ""
        return f"{head}; " + ", ".join(parts) + batch


@dataclass
class EnsureReport:
    """Result of :meth:`PriceStore.ensure`.

    ``fetched`` reports what was downloaded and written (None if nothing), ``remaining`` the gaps still
    open, and ``warning`` (non-strict only) why they are open, in words to show the user.
    """

    fetched: ImportReport | None = None
    remaining: Gaps = field(default_factory=dict)
    warning: str | None = None


def _empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in FRAME_COLUMNS})
    frame["date"] = pd.Series(dtype="datetime64[ns]")
    frame["ticker"] = pd.Series(dtype="str")
    return frame


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """A long price frame in the contract's columns and dtypes, sorted, rows without any value dropped."""
    missing = {"date", "ticker"} - set(frame.columns)
    if missing or not {"close", "adj_close"} & set(frame.columns):
        raise PriceDataError(
            f"price frame needs columns date, ticker and close or adj_close; has {list(frame.columns)}"
        )
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(frame["date"]).dt.normalize().astype("datetime64[ns]"),
            "ticker": frame["ticker"].astype("str"),
        }
    )
    for col in VALUE_COLUMNS:
        out[col] = frame[col].astype("float64") if col in frame.columns else np.nan
    out = out[out[VALUE_COLUMNS].notna().any(axis=1)]
    return out.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)


def content_hash(frame: pd.DataFrame) -> str:
    """sha256 of the normalized frame written as CSV (stable across runs and machines)."""
    return hashlib.sha256(frame[FRAME_COLUMNS].to_csv(index=False).encode()).hexdigest()


class PriceStore:
    """Daily prices in one DuckDB file.

    Parameters
    ----------
    path : path-like, optional
        The store file; default :func:`default_path`.
    lock_timeout : float
        Seconds to wait for another process that is writing the store before giving up.
    """

    def __init__(self, path: str | os.PathLike | None = None, lock_timeout: float = 10.0) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"PriceStore({str(self.path)!r})"

    # -- connections -------------------------------------------------------------------------------------

    def _damaged(self, exc: Exception) -> StoreError:
        reason = str(exc).splitlines()[0]
        return StoreError(
            f"store {self.path} is damaged ({reason}); move it aside and rebuild it: "
            f"eventstudy prices --store {self.path} rebuild --from PATH... "
            "(then fetch any Yahoo-only tickers again with eventstudy prices fetch)"
        )

    @contextmanager
    def _connect(self, write: bool) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A connection for one operation; None for a read of a store that does not exist yet."""
        if not write and not self.path.exists():
            yield None
            return
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=not write)
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
                        f"store {self.path} is locked by another eventstudy process{who}; "
                        f"waited {self.lock_timeout:g} s. Wait for it to finish or use --store PATH"
                    ) from None
                if any(s in msg for s in _DAMAGE):
                    raise self._damaged(exc) from None
                if "version number" in msg:
                    raise StoreError(
                        f"store {self.path} was written by another duckdb version ({msg.splitlines()[0]}); "
                        f"install duckdb {duckdb.__version__}'s counterpart or rebuild it with "
                        f"eventstudy prices --store {self.path} rebuild --from PATH..."
                    ) from None
                raise StoreError(f"cannot open store {self.path}: {msg.splitlines()[0]}") from None
        try:
            if write:
                con.execute(_SCHEMA)
            elif not _has_schema(con):
                con.close()
                yield None
                return
            yield con
        except duckdb.Error as exc:
            if any(s in str(exc) for s in _DAMAGE):
                raise self._damaged(exc) from None
            raise
        finally:
            con.close()

    # -- writing -----------------------------------------------------------------------------------------

    def import_frame(
        self,
        frame: pd.DataFrame,
        source: str,
        replace: bool = False,
        kind: str = "import",
        covers: Sequence[tuple[str, pd.Timestamp, pd.Timestamp]] | None = None,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Write a long price frame in one transaction.

        Parameters
        ----------
        frame : DataFrame
            Long price frame (``date, ticker`` and any of ``open, high, low, close, adj_close, volume``).
        source : str
            Provenance kept with the batch (file path, ``yahoo``...).
        replace : bool
            Overwrite stored values that differ from the incoming ones (incoming non-missing values win).
        kind : {"import", "fetch"}
        covers : list of (ticker, first, last), optional
            The date ranges this batch vouches for; default each ticker's first to last date.
        progress : callable, optional
            Called as ``progress(rows_written, rows_total)`` inside the transaction.

        Raises
        ------
        PriceDataError
            Duplicate sessions or non-positive prices (nothing is written).
        StoreError
            The store is locked or damaged.
        """
        data = normalize(frame)
        quality = check_prices(data)
        digest = content_hash(data)
        if covers is None:
            covers = [(t, g["date"].iloc[0], g["date"].iloc[-1]) for t, g in data.groupby("ticker")]
        with self._connect(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                report = self._write(con, data, source, digest, replace, kind, covers, quality, progress)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return report

    def _write(self, con, data, source, digest, replace, kind, covers, quality, progress) -> ImportReport:
        tickers = sorted(data["ticker"].unique())
        stored = con.execute(
            "SELECT ticker, CAST(date AS TIMESTAMP_NS) AS date, "
            + ", ".join(VALUE_COLUMNS)
            + " FROM prices WHERE ticker IN (SELECT unnest(?))",
            [tickers],
        ).df()
        stored["ticker"] = stored["ticker"].astype("str")
        merged = data.merge(stored, on=["ticker", "date"], how="left", suffixes=("", "_old"), indicator=True)
        existed = (merged.pop("_merge") == "both").to_numpy()
        new_v = merged[VALUE_COLUMNS].to_numpy()
        old_v = merged[[c + "_old" for c in VALUE_COLUMNS]].to_numpy()
        has_new, has_old = ~np.isnan(new_v), ~np.isnan(old_v)
        conflict = has_new & has_old & (new_v != old_v)
        fill = has_new & ~has_old & existed[:, None]
        row_conflict, row_fill = conflict.any(axis=1), fill.any(axis=1) & existed
        ci, cj = np.nonzero(conflict)
        conflicts = pd.DataFrame(
            {
                "ticker": merged["ticker"].to_numpy()[ci],
                "date": merged["date"].to_numpy()[ci],
                "column": np.asarray(VALUE_COLUMNS, dtype=object)[cj],
                "stored": old_v[ci, cj],
                "incoming": new_v[ci, cj],
            }
        )
        write = ~existed | (row_fill & ~row_conflict) | (row_conflict & replace)
        out = merged.loc[write, ["ticker", "date"]].copy()
        out[VALUE_COLUMNS] = np.where(has_new, new_v, old_v)[write]
        out["currency"] = out["ticker"].map({t: currency_of(t) for t in tickers})

        counts = pd.DataFrame(
            {
                "ticker": merged["ticker"],
                "rows": 1,
                "new": ~existed,
                "filled": row_fill & ~row_conflict,
                "replaced": row_conflict & replace,
                "unchanged": existed & ~row_fill & ~row_conflict,
                "conflicts": row_conflict,
            }
        )
        per_ticker = counts.groupby("ticker", sort=True).sum().astype("int64").reset_index()
        new_ranges = self._new_ranges(con, covers)
        report = ImportReport(
            source=source,
            content_hash=digest,
            rows=len(data),
            new=int((~existed).sum()),
            filled=int(counts["filled"].sum()),
            replaced=int(counts["replaced"].sum()),
            unchanged=int(counts["unchanged"].sum()),
            conflicts=conflicts,
            per_ticker=per_ticker,
            quality=quality,
            replace=replace,
        )
        if out.empty and not new_ranges:
            return report
        batch_id = con.execute("SELECT coalesce(max(batch_id), 0) + 1 FROM batches").fetchone()[0]
        con.execute(
            "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                batch_id,
                kind,
                source,
                datetime.now(timezone.utc).replace(tzinfo=None),
                digest,
                len(data),
                report.new,
                report.filled,
                report.replaced,
                None,
            ],
        )
        out["batch_id"] = batch_id
        cols = ", ".join(VALUE_COLUMNS + ["currency", "batch_id"])
        updates = ", ".join(f"{c} = excluded.{c}" for c in VALUE_COLUMNS + ["currency", "batch_id"])
        for lo in range(0, len(out), _CHUNK):
            chunk = out.iloc[lo : lo + _CHUNK]
            con.register("chunk", chunk)
            con.execute(
                f"INSERT INTO prices SELECT ticker, CAST(date AS DATE), {cols} FROM chunk "
                f"ON CONFLICT (ticker, date) DO UPDATE SET {updates}"
            )
            con.unregister("chunk")
            if progress is not None:
                progress(min(lo + _CHUNK, len(out)), len(out))
        for ticker, a, b in new_ranges:
            con.execute("INSERT INTO ranges VALUES (?, ?, ?, ?)", [ticker, a, b, batch_id])
        report.batch_id = batch_id
        return report

    @staticmethod
    def _new_ranges(con, covers) -> list[tuple[str, object, object]]:
        have = set(con.execute('SELECT ticker, start, "end" FROM ranges').fetchall())
        spans = {(t, pd.Timestamp(a).date(), pd.Timestamp(b).date()) for t, a, b in covers}
        return sorted(spans - have)

    def import_paths(
        self, paths: Sequence[str | os.PathLike], replace: bool = False, progress: Progress | None = None
    ) -> ImportReport:
        """Read files or folders with :func:`eventstudy.prices.read_prices` and import them as one batch."""
        from eventstudy.prices import read_prices

        paths = [Path(p) for p in paths]
        frame = read_prices(paths[0] if len(paths) == 1 else paths)
        source = "; ".join(str(p.resolve()) for p in paths)
        return self.import_frame(frame, source=source, replace=replace, progress=progress)

    def rebuild(self, paths: Sequence[str | os.PathLike]) -> tuple[Path | None, ImportReport]:
        """Move the store file aside (if any) and import ``paths`` into a fresh one.

        Returns the path the old file was moved to and the import report.
        """
        moved = None
        if self.path.exists():
            stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
            moved = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
            shutil.move(self.path, moved)
            wal = self.path.with_name(self.path.name + ".wal")
            if wal.exists():
                shutil.move(wal, moved.with_name(moved.name + ".wal"))
        return moved, self.import_paths(paths)

    # -- reading -----------------------------------------------------------------------------------------

    def tickers(self) -> list[str]:
        with self._connect(write=False) as con:
            if con is None:
                return []
            return [r[0] for r in con.execute("SELECT DISTINCT ticker FROM prices ORDER BY 1").fetchall()]

    def load(
        self,
        tickers: Sequence[str] | None = None,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Stored prices as a long price frame (columns, dtypes and order of ``read_prices``).

        Tickers the store does not hold are absent from the result; use :meth:`ensure` to fetch them.
        """
        where, args = [], []
        if tickers is not None:
            where.append("ticker IN (SELECT unnest(?))")
            args.append(list(tickers))
        if start is not None:
            where.append("date >= ?")
            args.append(pd.Timestamp(start).date())
        if end is not None:
            where.append("date <= ?")
            args.append(pd.Timestamp(end).date())
        sql = "SELECT CAST(date AS TIMESTAMP_NS) AS date, ticker, " + ", ".join(VALUE_COLUMNS) + " FROM prices"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._connect(write=False) as con:
            if con is None:
                return _empty_frame()
            frame = con.execute(sql + " ORDER BY ticker, date", args).df()
        frame["date"] = frame["date"].astype("datetime64[ns]")
        frame["ticker"] = frame["ticker"].astype("str")
        return frame[FRAME_COLUMNS].astype({c: "float64" for c in VALUE_COLUMNS})

    def batches(self) -> pd.DataFrame:
        """The provenance table: one row per import or fetch that changed the store."""
        with self._connect(write=False) as con:
            if con is None:
                return pd.DataFrame(columns=["batch_id", "kind", "source", "created_at", "content_hash"])
            return con.execute("SELECT * FROM batches ORDER BY batch_id").df()

    def coverage(self, venue: Callable[[str], str] = venue_of) -> pd.DataFrame:
        """Per ticker: ``ticker, venue, currency, first, last, sessions, missing, source``.

        ``missing`` counts sessions of the venue calendar between first and last with no stored row;
        ``source`` lists the sources of the batches the rows came from.
        """
        cols = ["ticker", "venue", "currency", "first", "last", "sessions", "missing", "source"]
        with self._connect(write=False) as con:
            if con is None:
                return pd.DataFrame(columns=cols)
            per = con.execute(
                "SELECT p.ticker, any_value(p.currency) AS currency, "
                "CAST(min(p.date) AS TIMESTAMP_NS) AS first, CAST(max(p.date) AS TIMESTAMP_NS) AS last, "
                "count(*) AS sessions, string_agg(DISTINCT b.source, '; ' ORDER BY b.source) AS source "
                "FROM prices p JOIN batches b USING (batch_id) GROUP BY p.ticker ORDER BY p.ticker"
            ).df()
            dates = con.execute("SELECT ticker, CAST(date AS TIMESTAMP_NS) AS date FROM prices").df()
        by_ticker = dict(tuple(dates.groupby("ticker")["date"]))
        per["venue"] = [venue(t) for t in per["ticker"]]
        per["missing"] = [
            len(sessions(v, a, b).difference(pd.DatetimeIndex(by_ticker[t])))
            for t, v, a, b in per[["ticker", "venue", "first", "last"]].itertuples(index=False)
        ]
        per["ticker"] = per["ticker"].astype("str")
        return per[cols]

    def missing(
        self,
        tickers: Sequence[str],
        start: str | pd.Timestamp,
        end: str | pd.Timestamp,
        venue: Callable[[str], str] = venue_of,
    ) -> Gaps:
        """Sessions in ``[start, end]`` that no batch vouches for, as ``{ticker: [(first, last), ...]}``.

        A range a batch covers (an imported file's first to last date, a fetched range) counts as known even
        on sessions without a row (halts, holidays the calendar does not know). Sessions after yesterday
        (UTC) are never missing. Tickers without gaps are left out.
        """
        with self._connect(write=False) as con:
            ranges = (
                con.execute(
                    "SELECT ticker, CAST(start AS TIMESTAMP_NS) AS start, "
                    'CAST("end" AS TIMESTAMP_NS) AS "end" FROM ranges WHERE ticker IN (SELECT unnest(?))',
                    [list(tickers)],
                ).df()
                if con is not None
                else pd.DataFrame(columns=["ticker", "start", "end"])
            )
        # Today's session may still be trading (Yahoo then returns a live price): the last complete one is
        # yesterday's at the latest, so later sessions are never missing.
        last = min(pd.Timestamp(end), pd.Timestamp.now("UTC").tz_localize(None).normalize() - pd.Timedelta(days=1))
        out: Gaps = {}
        for t in dict.fromkeys(tickers):
            wanted = sessions(venue(t), pd.Timestamp(start), last)
            keep = np.ones(len(wanted), dtype=bool)
            for a, b in ranges.loc[ranges["ticker"] == t, ["start", "end"]].itertuples(index=False):
                keep &= ~((wanted >= a) & (wanted <= b))
            if keep.any():
                out[t] = _session_runs(wanted, keep)
        return out

    def ensure(
        self,
        tickers: Sequence[str],
        start: str | pd.Timestamp,
        end: str | pd.Timestamp,
        offline: bool = False,
        fetcher: Callable[[list[str], pd.Timestamp, pd.Timestamp], pd.DataFrame] | None = None,
        strict: bool = True,
    ) -> EnsureReport:
        """Make sure the store holds ``tickers`` over ``[start, end]``, fetching only the missing ranges.

        Parameters
        ----------
        offline : bool
            Never fetch.
        strict : bool
            If True, any gap that cannot be filled (offline, or the download failed) raises. If False, only
            tickers the store does not hold at all raise; partial gaps (such as dates before a listing) are
            returned in ``remaining`` with a ``warning`` and the caller goes on with what is stored.
        fetcher : callable, optional
            ``fetcher(tickers, start, end) -> long price frame`` for an inclusive date range, leaving out
            tickers without data there; default :func:`eventstudy.yahoo.fetch` with ``on_empty="skip"``.

        Raises
        ------
        PriceDataError
            Offline and prices are missing (message lists tickers and dates and how to import them).
        FetchError
            A download failed (no network: the message lists what is missing and how to import it), or a
            ticker the store does not hold has no data on Yahoo.
        """
        gaps = self.missing(tickers, start, end)
        if not gaps:
            return EnsureReport()
        held = set(self.tickers())
        absent = [t for t in gaps if t not in held]
        if offline:
            if strict or absent:
                raise PriceDataError(_missing_message(gaps if strict else {t: gaps[t] for t in absent}))
            return EnsureReport(remaining=gaps, warning=f"offline: {_missing_message(gaps)}")
        if fetcher is None:
            from eventstudy import yahoo

            def fetcher(tks, a, b):
                return yahoo.fetch(tks, a, b, on_empty="skip")

        by_range: dict[tuple[pd.Timestamp, pd.Timestamp], list[str]] = {}
        for t, runs in gaps.items():
            for run in runs:
                by_range.setdefault(run, []).append(t)
        frames, covers = [], []
        for (a, b), tks in sorted(by_range.items()):
            try:
                got = fetcher(tks, a, b)
            except FetchError as exc:
                if strict or absent:
                    raise FetchError(f"{exc}\n{_missing_message(gaps)}") from None
                return EnsureReport(remaining=gaps, warning=f"{exc}\nusing what is stored; {_missing_message(gaps)}")
            frames.append(got)
            for t in tks:
                if t in held or (len(got) and (got["ticker"] == t).any()):
                    covers.append((t, a, b))
        unknown = [t for t in absent if t not in {c[0] for c in covers}]
        if unknown:
            raise FetchError(
                f"no prices on Yahoo for {', '.join(unknown)} between {pd.Timestamp(start):%Y-%m-%d} and "
                f"{pd.Timestamp(end):%Y-%m-%d}: unknown or delisted ticker? Check the symbol (A-shares "
                "need .SS or .SZ) or import a file with: eventstudy prices import PATH"
            )
        frame = pd.concat([f for f in frames if len(f)]) if any(len(f) for f in frames) else _empty_frame()
        report = self.import_frame(frame, source="yahoo", kind="fetch", covers=covers)
        return EnsureReport(fetched=report, remaining=self.missing(tickers, start, end))

    def export(self, path: str | os.PathLike, tickers: Sequence[str] | None = None) -> int:
        """Write stored prices as a long CSV or Parquet file (by extension), atomically. Returns rows."""
        path = Path(path)
        if path.suffix.lower() not in {".csv", ".parquet"}:
            raise StoreError(f"export to {path}: use a .csv or .parquet file name")
        frame = self.load(tickers)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            if path.suffix.lower() == ".csv":
                frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_csv(tmp, index=False)
            else:
                frame.to_parquet(tmp, index=False)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return len(frame)


def _has_schema(con: duckdb.DuckDBPyConnection) -> bool:
    names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    return {"prices", "batches", "ranges"} <= names


def _session_runs(wanted: pd.DatetimeIndex, keep: np.ndarray) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Runs of consecutive kept sessions (consecutive in ``wanted``) as (first, last) pairs."""
    idx = np.flatnonzero(keep)
    breaks = np.flatnonzero(np.diff(idx) > 1) + 1
    return [(wanted[run[0]], wanted[run[-1]]) for run in np.split(idx, breaks)]


def _missing_message(gaps: Gaps) -> str:
    parts = []
    for t, runs in list(gaps.items())[:10]:
        spans = ", ".join(f"{a:%Y-%m-%d}..{b:%Y-%m-%d}" for a, b in runs[:3])
        parts.append(f"{t} {spans}" + (f" (+{len(runs) - 3} more)" if len(runs) > 3 else ""))
    more = f" and {len(gaps) - 10} more tickers" if len(gaps) > 10 else ""
    tickers = " ".join(list(gaps)[:10])
    return (
        f"prices missing from the store: {'; '.join(parts)}{more}. Import files with "
        f"`eventstudy prices import PATH...` or, with network, `eventstudy prices fetch {tickers}`"
    )
