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

import os
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy.errors import FetchError, PriceDataError, StoreError
from eventstudy.io import neutralize_formulas
from eventstudy.prices.batches import (
    FRAME_COLUMNS,
    EnsureReport,
    Gaps,
    ImportReport,
    content_hash,
    empty_frame,
    missing_message,
    normalize,
    session_runs,
)
from eventstudy.prices.database import connect, default_path
from eventstudy.prices.files import refuse_two_spellings
from eventstudy.prices.quality import VALUE_COLUMNS, check_prices, currency_of
from eventstudy.timing.venues import sessions, venue_of

Progress = Callable[[int, int], None]

_CHUNK = 50_000


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
        refuse_two_spellings([*self.tickers(), *data["ticker"].unique()], f"store {self.path} with this import")
        digest = content_hash(data)
        if covers is None:
            covers = [(t, g["date"].iloc[0], g["date"].iloc[-1]) for t, g in data.groupby("ticker")]
        with connect(self.path, lock_timeout=self.lock_timeout, write=True) as con:
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
        from eventstudy.prices.files import read_prices

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
        with connect(self.path, lock_timeout=self.lock_timeout, write=False) as con:
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
        with connect(self.path, lock_timeout=self.lock_timeout, write=False) as con:
            if con is None:
                return empty_frame()
            frame = con.execute(sql + " ORDER BY ticker, date", args).df()
        frame["date"] = frame["date"].astype("datetime64[ns]")
        frame["ticker"] = frame["ticker"].astype("str")
        return frame[FRAME_COLUMNS].astype({c: "float64" for c in VALUE_COLUMNS})

    def batches(self) -> pd.DataFrame:
        """The provenance table: one row per import or fetch that changed the store."""
        with connect(self.path, lock_timeout=self.lock_timeout, write=False) as con:
            if con is None:
                return pd.DataFrame(columns=["batch_id", "kind", "source", "created_at", "content_hash"])
            return con.execute("SELECT * FROM batches ORDER BY batch_id").df()

    def coverage(self, venue: Callable[[str], str] = venue_of) -> pd.DataFrame:
        """Per ticker: ``ticker, venue, currency, first, last, sessions, missing, source``.

        ``missing`` counts sessions of the venue calendar between first and last with no stored row;
        ``source`` lists the sources of the batches the rows came from.
        """
        cols = ["ticker", "venue", "currency", "first", "last", "sessions", "missing", "source"]
        with connect(self.path, lock_timeout=self.lock_timeout, write=False) as con:
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
        with connect(self.path, lock_timeout=self.lock_timeout, write=False) as con:
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
                out[t] = session_runs(wanted, keep)
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
            tickers without data there; default :func:`eventstudy.prices.yahoo.fetch` with ``on_empty="skip"``.

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
                raise PriceDataError(missing_message(gaps if strict else {t: gaps[t] for t in absent}))
            return EnsureReport(remaining=gaps, warning=f"offline: {missing_message(gaps)}")
        if fetcher is None:
            from eventstudy.prices import yahoo

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
                    raise FetchError(f"{exc}\n{missing_message(gaps)}") from None
                return EnsureReport(remaining=gaps, warning=f"{exc}\nusing what is stored; {missing_message(gaps)}")
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
        frame = pd.concat([f for f in frames if len(f)]) if any(len(f) for f in frames) else empty_frame()
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
                from eventstudy.csv_rows import write_csv  # pandas' to_csv bytes, a column at a time

                with open(tmp, "wb") as handle:
                    write_csv(neutralize_formulas(frame), handle)
            else:
                frame.to_parquet(tmp, index=False)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return len(frame)
