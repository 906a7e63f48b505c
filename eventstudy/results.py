"""``EventStudyResults``: the tidy tables of a study, its summary, plots and files."""

from __future__ import annotations

import html
import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy.errors import InputError
from eventstudy.inference import FAMILIES, family
from eventstudy.inference.regression import read_characteristics, regress_car
from eventstudy.io import FORMATS, atomic_directory, restore_formulas, write_table
from eventstudy.table_source import LazyTable

PLACEBO_NONE = "no usable pseudo date (none kept every studied pair clean, with prices, for a window)"
SUMMARY_PAIRS = 50  # the summary lists at most this many pairs, warnings and CARs (the tables hold all)
TABLES = ("ar", "car", "parameters", "aar", "tests", "alignment", "events", "prices")
OPTIONAL_TABLES = ("av", "cav", "placebo", "robustness")  # when the study asked for them (robustness: added later)
_TEXT_COLUMNS = {
    "event_id",
    "ticker",
    "group",
    "window",
    "test",
    "model",
    "status",
    "reason",
    "contaminated",
    "venue",
    "label",
    "announced_at_utc",
    "announced_at_local",
    "beta_method",
    "measure",
    "family",
    "benchmark",
    "estimation",
}
_REQUIRED = {
    "ar": ("event_id", "ticker", "day", "ar"),
    "car": ("event_id", "ticker", "window", "car"),
    "parameters": ("event_id", "ticker", "status"),
    "aar": ("group", "day", "aar"),
    "tests": ("group", "window", "test", "statistic", "p_value"),
    "alignment": ("event_id", "ticker", "day0"),
    "events": ("event_id", "date"),
    "prices": ("date", "ticker"),
}
_DATE_COLUMNS = {
    "ar": ["date"],
    "av": ["date"],
    "parameters": ["estimation_start", "estimation_end", "day0_date"],
    "alignment": ["day0"],
    "events": ["date"],
    "prices": ["date"],
    "placebo": ["pseudo_day0"],
}


@dataclass
class EventStudyResults:
    """Results of :meth:`eventstudy.EventStudy.fit`; every table is a tidy DataFrame (one observation per row).

    Attributes
    ----------
    ar : event_id, ticker, day, date, return, normal_return, ar, sar, span (days of the report span, studied pairs;
        from ``fit`` built when first read: :class:`~eventstudy.table_source.LazyTable`)
    car : event_id, ticker, window, car, car_se, car_t, car_p, bhar, n_days, contaminated, complete
    parameters : event_id, ticker, model, status, reason, n_obs, alpha, beta, sigma, r2, estimation_start,
        estimation_end, day0_date, masked_days, venue (every pair, including those not studied, with the reason)
    aar : group, window, day, n, aar, caar, aar_t, aar_p (group = event_id or "all"; window = the report span or an
        event window, caar cumulated from the window's first day)
    tests : measure, group, window, test, family, statistic, p_value, n, rbar, p_holm, p_bh, p_placebo (measure:
        return, volatility, volume; family: naive or robust; Holm and Benjamini-Hochberg adjusted p; the placebo p
        where placebo draws ran)
    alignment : event_id, ticker, venue, announced_at_utc, announced_at_local, day0, reason
    events : the event table as read
    prices : the long price frame of the tickers, market and factors over the study's dates
    config : the run's settings
    av : event_id, ticker, day, date, volume, abnormal_log_volume, sav (None unless the study asked for volume)
    cav : event_id, ticker, window, cav, cav_se, cav_t, cav_p, n_days, contaminated, complete, n_obs (idem)
    placebo : group, window, draw, shift, pseudo_day0, test, statistic (None unless placebo draws ran)
    robustness : the grid of :func:`eventstudy.robustness` (None unless ``eventstudy robustness --out RUN_DIR`` ran)
    """

    ar: pd.DataFrame = LazyTable()
    car: pd.DataFrame
    parameters: pd.DataFrame
    aar: pd.DataFrame
    tests: pd.DataFrame
    alignment: pd.DataFrame
    events: pd.DataFrame
    prices: pd.DataFrame
    config: dict = field(default_factory=dict)
    av: pd.DataFrame | None = None
    cav: pd.DataFrame | None = None
    timings: dict = field(default_factory=dict)  # seconds per phase of the run (not written)
    placebo: pd.DataFrame | None = None
    robustness: pd.DataFrame | None = None

    # ----------------------------------------------------------------------------------------- views
    def test_table(self, group: str = "all", window: str | None = None, measure: str = "return") -> pd.DataFrame:
        """Tests of one group and measure as a (window x test) table of statistics, naive tests first, robust ones
        after."""
        rows = _with_family(self.tests[(self.tests["group"] == group) & (self.tests["measure"] == measure)])
        if window is not None:
            rows = rows[rows["window"] == window]
        order = [t for fam in FAMILIES for t in rows.loc[rows["family"] == fam, "test"].unique()]
        table = rows.pivot(index="window", columns="test", values="statistic")
        return table.reindex(columns=order, index=list(dict.fromkeys(rows["window"])))

    def car_table(self, window: str | None = None) -> pd.DataFrame:
        """CAR per pair (rows) and window (columns)."""
        rows = self.car if window is None else self.car[self.car["window"] == window]
        return rows.pivot_table(index=["event_id", "ticker"], columns="window", values="car", sort=False)

    def summary(self) -> str:
        """A plain-text summary: settings, pair statuses, CARs with t-values, and the pooled test battery."""
        cfg = self.config
        status = self.parameters["status"].value_counts().to_dict()
        lines = [
            "Event study results",
            "=" * 78,
            f"model: {cfg.get('model')}   market: {cfg.get('market')}   returns: {cfg.get('returns')}",
            f"estimation window: {cfg.get('estimation')}   event windows: {cfg.get('windows')}",
            f"events: {self.parameters['event_id'].nunique()}   pairs: {len(self.parameters)}   status: {status}",
        ]
        if "insufficient_by_masking" in cfg:
            lines.append(
                f"masking ({cfg.get('mask')}): {cfg['insufficient_by_masking']} pairs insufficient only because masked "
                "event days took their clean estimation returns below --min-obs"
            )
        skipped = self.parameters[~self.parameters["status"].isin(["ok"])]
        for row in skipped.head(SUMMARY_PAIRS).itertuples():
            lines.append(f"  {row.event_id} {row.ticker}: {row.status}: {row.reason}")
        lines += _more(len(skipped), "pairs not studied (see parameters)")
        shown_columns = ["event_id", "ticker", "window", "contaminated"]  # only what the warnings show
        flagged = (
            self.car.loc[self.car["contaminated"].fillna("") != "", shown_columns]
            if "contaminated" in self.car
            else self.car[:0]
        )
        groups = flagged.groupby(["event_id", "contaminated"], sort=False)
        for (event_id, what), rows in itertools.islice(groups, SUMMARY_PAIRS):
            tickers = ", ".join(dict.fromkeys(rows["ticker"]))
            windows = ", ".join(dict.fromkeys(rows["window"]))
            lines.append(f"  warning: {event_id} windows {windows} of {tickers} contain: {what}")
        lines += _more(groups.ngroups if len(flagged) else 0, "contamination warnings (see car: contaminated)")
        notes, count = window_warnings(self.car, SUMMARY_PAIRS)
        lines += [f"  warning: {line}" for line in notes] + _more(count, "window warnings")
        lines += ["", "CAR per pair (t in parentheses)", "-" * 78]
        pair = _pair_codes(self.car)  # 0, 1, ... in order of first appearance
        n_pairs = int(pair.max()) + 1 if len(pair) else 0
        shown = self.car[pair < SUMMARY_PAIRS] if min(n_pairs, SUMMARY_PAIRS) < len(self.parameters) else self.car
        whole = shown["complete"] if "complete" in shown else pd.Series(True, index=shown.index)
        cells = zip(shown["car"], shown["car_t"], whole.astype(str).str.lower() != "false", strict=True)
        car = shown.assign(cell=[_cell(c, t) + ("" if w else " incomplete") for c, t, w in cells])
        table = car.pivot_table(
            index=["event_id", "ticker"], columns="window", values="cell", aggfunc="first", sort=False
        )
        lines.append(table.to_string())
        lines += _more(n_pairs, "pairs (see car)")
        titles = {
            "return": "Pooled tests (all pairs)",
            "volatility": "Abnormal volatility",
            "volume": "Abnormal volume",
        }
        for measure, title in titles.items():
            pooled = _with_family(self.tests[(self.tests["group"] == "all") & (self.tests["measure"] == measure)])
            if pooled.empty:
                continue
            lines += ["", f"{title}: statistic [p-value], by family", "-" * 78]
            cells = pooled.assign(
                cell=[_stat_cell(s, p) for s, p in zip(pooled["statistic"], pooled["p_value"], strict=True)]
            )
            order = [(fam, t) for fam in FAMILIES for t in pooled.loc[pooled["family"] == fam, "test"].unique()]
            table = cells.pivot(index=["family", "test"], columns="window", values="cell").reindex(
                index=pd.MultiIndex.from_tuples(order, names=["family", "test"]),
                columns=list(dict.fromkeys(pooled["window"])),
            )
            lines.append(table.to_string())
            if measure == "return":
                rbar = pooled.groupby("window", sort=False)["rbar"].first()
                lines.append(
                    "naive: overstates significance when pairs share dates or overlap in time; robust: holds its "
                    "size there (simulated)"
                )
                lines.append(
                    "avg. pairwise CAR correlation (rbar): " + ", ".join(f"{w}: {r:.3f}" for w, r in rbar.items())
                )
        lines += _shared_date_lines(self.tests, self.placebo)
        return "\n".join(lines)

    def regress(
        self, characteristics: str | Path | pd.DataFrame, window: str | tuple[int, int], cov: str = "hc3"
    ) -> pd.DataFrame:
        """Second stage: OLS of each pair's CAR over ``window`` on firm ``characteristics``.

        ``characteristics`` is a CSV path or frame keyed by ``ticker`` or ``event_id,ticker`` with numeric columns;
        ``cov`` is ``"hc3"`` or ``"cluster-date"`` (clustered by day 0). Returns the ``regression.csv`` table
        ``term, coef, se, t, p_value, cov_type, n, r2`` (see :mod:`eventstudy.inference.regression`).
        """
        label = window if isinstance(window, str) else f"{window[0]}..{window[1]}"
        rows = self.car[self.car["window"].astype(str) == label]
        if rows.empty:
            have = ", ".join(dict.fromkeys(self.car["window"].astype(str)))
            raise InputError(f"the run has no CARs for window {label} (it has {have}): pick one of those")
        day0 = self.parameters[["event_id", "ticker", "day0_date"]].astype({"event_id": str, "ticker": str})
        rows = rows[["event_id", "ticker", "car"]].astype({"event_id": str, "ticker": str})
        dates = rows.merge(day0, on=["event_id", "ticker"], how="left")["day0_date"]
        return regress_car(rows.reset_index(drop=True), read_characteristics(characteristics), cov, dates)

    def to_latex(self, group: str = "all") -> str:
        """A LaTeX fragment for papers: CAR per pair and window (t below in parentheses; * p < 0.10, ** p < 0.05,
        *** p < 0.01 from the pair's own t) and the pooled return tests of ``group`` (statistic, p in brackets).

        Two ``tabular`` environments with ``booktabs`` rules (``\\usepackage{booktabs}``); text is escaped.
        """
        windows = list(dict.fromkeys(self.car["window"].astype(str)))
        lines = [_latex_tabular_head(["event", "ticker", *windows])]
        for (event_id, ticker), rows in self.car.groupby(["event_id", "ticker"], sort=False):
            by = rows.set_index(rows["window"].astype(str))
            cars, ts = [], []
            for w in windows:
                car, t, p = (by.loc[w, c] if w in by.index else np.nan for c in ("car", "car_t", "car_p"))
                cars.append(f"${car:+.4f}${_stars(p)}" if np.isfinite(car) else "")
                ts.append(f"({t:+.2f})" if np.isfinite(t) else "")
            lines.append(" & ".join([_tex(event_id), _tex(ticker), *cars]) + r" \\")
            lines.append(" & ".join(["", "", *ts]) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", ""]
        tests = self.tests[(self.tests["group"].astype(str) == group) & (self.tests["measure"] == "return")]
        lines.append(_latex_tabular_head(["test", *windows]))
        for test, rows in tests.groupby("test", sort=False):
            by = rows.set_index(rows["window"].astype(str))
            cells = [
                f"${by.loc[w, 'statistic']:+.2f}$ [{by.loc[w, 'p_value']:.3f}]"
                if w in by.index and np.isfinite(by.loc[w, "statistic"])
                else "n/a"
                for w in windows
            ]
            lines.append(" & ".join([_tex(test), *cells]) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return (
            f"<EventStudyResults: {self.parameters['event_id'].nunique()} events, {len(self.parameters)} pairs, "
            f"model={self.config.get('model')}>"
        )

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"

    def plot(self, **kwargs):
        """CAR path per ticker and the CAAR with a 95% band (see :func:`eventstudy.plotting.plot_car_paths`)."""
        from eventstudy.plotting import plot_car_paths

        return plot_car_paths(self, **kwargs)

    # ----------------------------------------------------------------------------------------- files
    def to_dir(self, path: str | Path, force: bool = False, fmt: str = "csv") -> Path:
        """Write every table (``fmt``: ``"csv"`` or ``"parquet"``) plus ``run.json`` into ``path`` (see
        :func:`eventstudy.io.atomic_directory`).

        ``path`` is a new folder or a previous run's; a folder holding other files is refused unless ``force``
        (then only the run's own files are written into it).
        """
        with atomic_directory(path, force) as tmp:
            self.write_tables(tmp, fmt)
        return Path(path)

    def write_tables(self, folder: Path, fmt: str = "csv", tables: tuple[str, ...] = TABLES) -> None:
        """Write ``tables`` (default all; plus av and cav when computed) and ``run.json`` into an existing ``folder``
        (not atomic: see ``to_dir``), each through :func:`write_table` as held (an AR table not yet read is written
        from its source in slices, its frame never built), the longest first (rows: with volume the AV table
        second, not last), so that the two threads end about together."""
        names = [*tables, *(n for n in OPTIONAL_TABLES if getattr(self, n) is not None)]
        names.sort(key=lambda name: -len(vars(self)[name]))  # stable: ties in the order given
        with ThreadPoolExecutor(2) as pool:  # Arrow encodes and compresses without the GIL: two tables at a time
            list(pool.map(lambda name: write_table(vars(self)[name], Path(folder) / name, fmt), names))
        (Path(folder) / "run.json").write_text(json.dumps(self.config, indent=2, default=str) + "\n")

    @classmethod
    def from_dir(cls, path: str | Path) -> EventStudyResults:
        """Read results written by :meth:`to_dir` (or ``eventstudy run --out``), as CSV or Parquet.

        Identifiers and labels (event ids, tickers, groups, windows, reasons) are read as text exactly as written,
        so ``007`` stays ``007``. A missing, damaged or foreign file raises :class:`InputError` naming it.
        ``prices`` may be absent (``eventstudy run`` writes it only with ``--report``): it is then empty.
        """
        path = Path(path)
        found = {name: _table_file(path, name) for name in TABLES}
        missing = [n for n, f in found.items() if f is None and n != "prices"]
        if missing or not (path / "run.json").is_file():
            raise InputError(
                f"{path} is not a complete eventstudy run directory (missing {', '.join(missing) or 'run.json'}): "
                "write one with `eventstudy run --out DIR`"
            )
        optional = {n: _table_file(path, n) for n in OPTIONAL_TABLES}
        tables = {
            name: _read_table(file, name) if file is not None else pd.DataFrame(columns=["date", "ticker", "adj_close"])
            for name, file in {**found, **{n: f for n, f in optional.items() if f is not None}}.items()
        }
        if "measure" not in tables["tests"]:  # runs written before volume and volatility tests
            tables["tests"].insert(0, "measure", "return")
        try:
            config = json.loads((path / "run.json").read_text())
        except (ValueError, OSError) as exc:
            raise InputError(f"{path / 'run.json'} is damaged ({exc}): rerun `eventstudy run --out {path}`") from exc
        if not isinstance(config, dict):
            raise InputError(f"{path / 'run.json'} is damaged (not a JSON object): rerun `eventstudy run --out {path}`")
        return cls(**tables, config=config)


def _read_table(file: Path, name: str) -> pd.DataFrame:
    """One table of a run directory: text columns as text, the others numeric, boolean or dates."""
    rerun = f"rerun `eventstudy run --out {file.parent}`"
    if file.suffix == ".parquet":
        try:
            return pd.read_parquet(file)
        except (ValueError, OSError) as exc:
            raise InputError(f"{file} is damaged ({exc}): {rerun}") from exc
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{file} is damaged ({reason}): {rerun}") from exc
    absent = [c for c in _REQUIRED.get(name, ()) if c not in frame.columns]
    if absent:
        raise InputError(f"{file} is damaged or not an eventstudy table (no column {', '.join(absent)}): {rerun}")
    for col in frame.columns:
        if col in _DATE_COLUMNS.get(name, []):
            dates = pd.to_datetime(frame[col].replace("", None), format="ISO8601", errors="coerce")
            bad = dates.isna() & (frame[col] != "")
            if bad.any():
                _refuse(file, frame[col], bad, "is not a date", rerun)
            frame[col] = dates
        elif name == "events" or col in _TEXT_COLUMNS:
            frame[col] = restore_formulas(frame[col])
        elif frame[col].isin(["True", "False"]).all() and len(frame):
            frame[col] = frame[col] == "True"
        else:
            numbers = pd.to_numeric(frame[col].replace("", None), errors="coerce")
            bad = numbers.isna() & (frame[col] != "")
            if bad.any():
                _refuse(file, frame[col], bad, "is not a number", rerun)
            frame[col] = numbers
    return frame


def _refuse(file: Path, column: pd.Series, bad: pd.Series, what: str, rerun: str) -> None:
    row = int(bad.to_numpy().argmax())
    raise InputError(f"{file}: row {row + 2}: {column.name} {column.iloc[row]!r} {what}: {rerun}")


def window_warnings(car: pd.DataFrame, limit: int | None = None) -> tuple[list[str], int]:
    """One line per (event, window) with days lacking a price: incomplete (``complete`` False) or bridged.

    A window is bridged when it is complete but some of its days have no price: the trade-to-trade return of the
    first session after the gap carries their move (``n_days`` counts the days with a price). Returns the first
    ``limit`` lines (all with None) and how many there are.
    """
    if "complete" not in car or "n_days" not in car or car.empty:
        return [], 0
    complete = _per_value(car["complete"], lambda v: ~v.astype(str).str.lower().isin(["false", "0"]))
    bounds = _per_value(car["window"], lambda v: v.astype(str).str.split("..", regex=False, expand=True).astype(int))
    length = bounds[1] - bounds[0] + 1
    flagged = ~complete | (car["n_days"] < length)
    if not flagged.any():
        return [], 0
    grouped = car[flagged].groupby(["event_id", "window", complete[flagged]], sort=False)
    lines = []
    for (event_id, window, whole), rows in itertools.islice(grouped, limit):
        days = ", ".join(
            f"{t} ({int(n)} of {length[i]} days)"
            for i, t, n in zip(rows.index, rows["ticker"], rows["n_days"], strict=True)
        )
        lines.append(
            f"{event_id} window {window}: {days} with a price; the returns after each gap span the missing sessions "
            "(trade-to-trade)"
            if whole
            else f"{event_id} window {window} is incomplete for {days} with a price: its last days have no price "
            "or lie past the data, or its first return reaches back before it; this CAR is not that window's CAR"
        )
    return lines, grouped.ngroups


def _pair_codes(car: pd.DataFrame) -> np.ndarray:
    """A code per (event_id, ticker) of each row, numbered in order of first appearance."""
    event, _ = pd.factorize(car["event_id"])
    ticker, tickers = pd.factorize(car["ticker"])
    return pd.factorize(event.astype(np.int64) * (len(tickers) + 1) + ticker)[0]


def _per_value(column: pd.Series, fn) -> pd.DataFrame | pd.Series:
    """``fn`` (text work on a Series) applied to the distinct values of ``column`` only, spread back to its rows
    (a CAR table has a handful of windows and flags but a row per pair and window)."""
    codes, values = pd.factorize(column, use_na_sentinel=False)
    out = fn(pd.Series(values, dtype=column.dtype))
    return out.iloc[codes].set_axis(column.index)


def run_format(folder: str | Path) -> str:
    """The format (``csv`` or ``parquet``) of the tables of the run saved in ``folder`` (csv when it has none)."""
    car = _table_file(Path(folder), "car")
    return car.suffix[1:] if car is not None else "csv"


def _table_file(folder: Path, name: str) -> Path | None:
    for fmt in FORMATS:
        if (folder / f"{name}.{fmt}").is_file():
            return folder / f"{name}.{fmt}"
    return None


def _more(total: int, what: str) -> list[str]:
    return [f"  ... {total - SUMMARY_PAIRS} more {what}"] if total > SUMMARY_PAIRS else []


_SIDE_BY_SIDE = {
    "csect_t": "naive csect_t",
    "kp_bmp_t": "Kolari-Pynnonen BMP",
    "placebo_caar": "placebo CAAR",
    "binder_caar_z": "Binder CAAR",
    "binder_wald": "Binder joint",
    "calendar_time_z": "calendar-time z",
    "calendar_time_nw": "calendar-time NW",
}


def _shared_date_lines(tests: pd.DataFrame, placebo: pd.DataFrame | None) -> list[str]:
    """The pooled p-values of the tests for shared dates and overlapping windows, with Holm and BH beside them."""
    returns = tests["measure"] == "return" if "measure" in tests else True
    pooled = tests[returns & (tests["group"] == "all") & tests["test"].isin(list(_SIDE_BY_SIDE))]
    if pooled.empty or "p_holm" not in pooled:
        return []
    cells = pooled.assign(
        cell=[
            "n/a" if not np.isfinite(p) else f"{p:.3f} [{h:.3f}, {b:.3f}]"
            for p, h, b in zip(pooled["p_value"], pooled["p_holm"], pooled["p_bh"], strict=True)
        ],
        name=pooled["test"].map(_SIDE_BY_SIDE),
    )
    table = cells.pivot(index="name", columns="window", values="cell").reindex(
        index=[v for k, v in _SIDE_BY_SIDE.items() if k in set(pooled["test"])],
        columns=list(dict.fromkeys(pooled["window"])),
    )
    note = "placebo: not run (placebo_draws = 0)"
    if placebo is not None:  # a placebo that ran, with or without a usable pseudo date
        draws = placebo[placebo["test"] == "caar"].groupby("window")["draw"].nunique()
        note = "placebo: " + (", ".join(f"{w}: {n} draws" for w, n in draws.items()) if len(draws) else PLACEBO_NONE)
    return [
        "",
        "Shared dates and overlapping windows (all pairs): p [Holm, BH over events x windows]",
        "-" * 78,
        table.rename_axis(index=None, columns=None).to_string(),
        f"{note}; Binder needs one shared day 0; calendar-time NW needs 10+ calendar dates",
    ]


def _with_family(tests: pd.DataFrame) -> pd.DataFrame:
    """The tests with their ``family`` column (derived for runs written before it existed)."""
    return tests if "family" in tests else tests.assign(family=[family(t) for t in tests["test"]])


def _cell(car: float, t: float) -> str:
    return "" if not np.isfinite(car) else f"{car:+.4f} ({t:+.2f})" if np.isfinite(t) else f"{car:+.4f}"


def _stat_cell(stat: float, p: float) -> str:
    return "n/a" if not np.isfinite(stat) else f"{stat:+.2f} [{p:.3f}]"


_TEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}"}


def _tex(text: object) -> str:
    out = str(text).replace("\\", r"\textbackslash{}").replace("~", r"\textasciitilde{}").replace("^", r"\^{}")
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in out)


def _latex_tabular_head(columns: list[str]) -> str:
    spec = "l" * (2 if columns[1] == "ticker" else 1)
    spec += "r" * (len(columns) - len(spec))
    return "\n".join(
        [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(_tex(c) for c in columns) + r" \\", r"\midrule"]
    )


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return "$^{***}$" if p < 0.01 else "$^{**}$" if p < 0.05 else "$^{*}$" if p < 0.10 else ""
