"""Read daily factor returns (Fama-French 3/5 factors, momentum) from files into one validated table.

Two formats are read, detected from the header line:

* **Ken French's daily CSV as distributed** (``F-F_Research_Data_Factors_daily.CSV``,
  ``F-F_Research_Data_5_Factors_2x3_daily.CSV``, ``F-F_Momentum_Factor_daily.CSV``): free-text lines, then a
  header whose first field is empty (``,Mkt-RF,SMB,HML,RF``), then rows ``YYYYMMDD,v1,v2,...`` in **percent**,
  ended by a blank line and a copyright line. Missing values (-99.99, -999) are read as missing.
* **A plain CSV** ``date,Mkt-RF,SMB,HML,RF,...`` (ISO dates or YYYYMMDD) in **decimal** units (0.01 = 1%).

The result is indexed by session date with canonical columns ``Mkt-RF, SMB, HML, RMW, CMA, MOM, RF`` (those
present), in decimal units. Momentum is read under ``Mom``, ``UMD`` or ``WML``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy.errors import InputError

FACTOR_NAMES = ("Mkt-RF", "SMB", "HML", "RMW", "CMA", "MOM", "RF")
_ALIASES = {
    "mkt-rf": "Mkt-RF",
    "mkt_rf": "Mkt-RF",
    "mktrf": "Mkt-RF",
    "smb": "SMB",
    "hml": "HML",
    "rmw": "RMW",
    "cma": "CMA",
    "mom": "MOM",
    "umd": "MOM",
    "wml": "MOM",
    "rf": "RF",
}
_FRENCH_MISSING = (-99.99, -999.0)
# a daily factor return in decimal units has a standard deviation near 0.01; in percent near 1
_PERCENT_SD = 0.2


def read_factors(source: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """Read one or more daily factor files into one table (DatetimeIndex ``date``, decimal units).

    Files are joined on the date (outer join); a factor present in two files (e.g. ``RF``) must agree wherever
    both have it.

    Raises
    ------
    InputError
        On a missing or unreadable file, a file without a factor header, unknown or duplicated columns,
        unparseable or duplicated dates, monthly or annual data, non-numeric values, or a plain CSV that looks
        like it is in percent. The message names the file, row and what to do.
    """
    paths = [Path(source)] if isinstance(source, str | Path) else [Path(p) for p in source]
    if not paths:
        raise InputError("no factor file given: pass --factors-file PATH")
    table: pd.DataFrame | None = None
    for path in paths:
        frame = read_factor_file(path)
        if table is None:
            table = frame
            continue
        for col in frame.columns.intersection(table.columns):
            both = pd.concat([table[col], frame[col]], axis=1, join="inner", keys=["old", "new"]).dropna()
            bad = (both["old"] - both["new"]).abs() > 1e-9
            if bad.any():
                day = both.index[bad.to_numpy()][0].date()
                raise InputError(f"{path}: {col} on {day} differs from the value in an earlier factor file")
        table = table.join(frame[frame.columns.difference(table.columns)], how="outer")
    assert table is not None
    order = [c for c in FACTOR_NAMES if c in table.columns]
    return table[order].sort_index()


def read_factor_file(path: str | Path) -> pd.DataFrame:
    """Read one factor file (French daily CSV in percent, or plain CSV in decimals); see the module docstring."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such factor file")
    try:
        lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from exc
    header_at = next((i for i, line in enumerate(lines) if _factor_columns(line)), None)
    if header_at is None:
        raise InputError(
            f"{path}: no header with factor columns (expected e.g. ',Mkt-RF,SMB,HML,RF' in a Ken French file or "
            f"'date,Mkt-RF,SMB,HML,RF'); known factors: {', '.join(FACTOR_NAMES)} (momentum as Mom/UMD/WML)"
        )
    fields = [f.strip() for f in lines[header_at].split(",")]
    french = fields[0] == ""
    if not french and fields[0].lower() != "date":
        raise InputError(f"{path}, line {header_at + 1}: the first column must be 'date' (got {fields[0]!r})")
    names = []
    for f in fields[1:]:
        if f.lower() not in _ALIASES:
            raise InputError(
                f"{path}, line {header_at + 1}: unknown factor column {f!r}: expected {', '.join(FACTOR_NAMES)}"
            )
        names.append(_ALIASES[f.lower()])
    if len(set(names)) != len(names):
        raise InputError(f"{path}, line {header_at + 1}: a factor column appears twice ({', '.join(fields[1:])})")
    rows, numbers = [], []
    for j in range(header_at + 1, len(lines)):
        line = lines[j].strip()
        if not line:
            if rows:
                break  # French files end the daily section with a blank line (then a copyright note)
            continue
        parts = [p.strip() for p in line.split(",")]
        if french and not re.fullmatch(r"\d+", parts[0]):
            break
        if len(parts) != len(fields):
            raise InputError(f"{path}, line {j + 1}: {len(parts)} fields, the header has {len(fields)}")
        rows.append((j + 1, parts[0]))
        numbers.append(parts[1:])
    if not rows:
        raise InputError(f"{path}: no data rows after the header on line {header_at + 1}")
    dates = _parse_dates(path, rows)
    try:
        values = np.array(numbers, dtype=float)
    except ValueError:
        bad = next(i for i, r in enumerate(numbers) if not all(_is_number(v) for v in r))
        raise InputError(f"{path}, line {rows[bad][0]}: non-numeric factor value in {numbers[bad]}") from None
    frame = pd.DataFrame(values, index=pd.DatetimeIndex(dates, name="date"), columns=names)
    if french:
        frame = frame.mask(frame.isin(_FRENCH_MISSING)) / 100.0
    else:
        sd = np.nanstd(values)
        if sd > _PERCENT_SD:
            raise InputError(
                f"{path}: factor returns have a daily standard deviation of {sd:.2f}: they look like percent; "
                "a plain factor CSV must be in decimals (0.01 = 1%): divide by 100"
            )
    dup = frame.index.duplicated()
    if dup.any():
        raise InputError(f"{path}: date {frame.index[dup][0].date()} appears twice: keep one row per date")
    return frame.sort_index()


def _factor_columns(line: str) -> bool:
    fields = [f.strip().lower() for f in line.split(",")]
    return len(fields) >= 2 and all(f in _ALIASES for f in fields[1:]) and fields[0] in ("", "date")


def _parse_dates(path: Path, rows: list[tuple[int, str]]) -> pd.DatetimeIndex:
    raw = [r[1] for r in rows]
    lengths = {len(r) for r in raw if r.isdigit()}
    if lengths and lengths <= {4, 6}:
        raise InputError(
            f"{path}: dates like {raw[0]!r} are monthly or annual: use the daily file (e.g. "
            "F-F_Research_Data_Factors_daily.CSV)"
        )
    compact = [r.isdigit() and len(r) == 8 for r in raw]
    parsed = pd.to_datetime(pd.Series(raw), format="%Y%m%d" if all(compact) else "ISO8601", errors="coerce").to_numpy()
    bad = np.flatnonzero(np.isnat(parsed))
    if bad.size:
        line, text = rows[bad[0]]
        raise InputError(f"{path}, line {line}: cannot read date {text!r}: use YYYY-MM-DD or YYYYMMDD")
    return pd.DatetimeIndex(parsed)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
