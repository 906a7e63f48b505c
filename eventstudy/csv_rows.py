"""A tidy table's rows as CSV bytes at Arrow and numba speed, byte for byte what pandas writes.

:func:`write_csv` writes what ``frame.to_csv(handle, index=False, date_format="%Y-%m-%d", encoding="utf-8")`` writes
(QUOTE_MINIMAL, a missing value as an empty field, lines ended by ``os.linesep``) but builds the bytes a column at
a time instead of a Python string per cell (pandas took 11-12 s of a 17 s run on the 2.1 million rows of the AR table
of 100,000 pairs):

- a float is Python's ``repr`` (shortest digits that read back to the same float; positional from ``1e-4`` to
  below ``1e16``, else ``1e-05``, ``1.5e+16``), which is what pandas writes (numpy's ``astype(str)``). Arrow's cast
  to text gives the same shortest digits laid out differently (``1e-9``, ``0.00001``, ``1``, ``1e+15``); the numba
  pass that joins the rows lays them out as ``repr`` does. NaN is an empty field, infinities ``inf`` and ``-inf``;
- an integer is its decimal digits (Arrow's cast), a bool ``True`` or ``False``, a date ``YYYY-MM-DD`` (numba, from
  the days since 1970; a time of day is dropped as the format drops it);
- a text cell is quoted (``"`` doubled inside) when it holds a character Python's ``csv`` module quotes (found by
  asking it: ``,``, ``"`` and the line end), a missing one is empty; a row of one empty field is ``""``.

A column of any other kind (categorical, nullable, timezone-aware, float32, object cells that are not all text,
dates outside the years 1000..9999) sends the whole frame to pandas' own ``to_csv``, as does a frame of fewer than
``FAST_ROWS`` rows, so the bytes are pandas' in every case. ``tests/test_csv_rows.py`` holds the two to the same
bytes on adversarial frames.
"""

from __future__ import annotations

import csv
import io
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)

CHUNK_ROWS = 1 << 16  # rows encoded at a time (a chunk of the AR table: about 20 MB of text in passing)
WORKERS = 2  # chunks encoded at once
FAST_ROWS = 10_000  # a frame of fewer rows is written by pandas (tens of ms)
LINE_END = os.linesep  # what pandas ends a line with by default
REPR_WIDTH = 24  # the longest repr of a float64: -2.2250738585072014e-308
_DAY_RANGE = (-354_285, 2_932_896)  # 1000-01-01 .. 9999-12-31 as days since 1970-01-01


def _quoted_characters() -> str:
    """The characters that make Python's ``csv`` module (as pandas calls it) quote a field, found by asking it."""
    candidates = [chr(c) for c in range(128)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=LINE_END, quoting=csv.QUOTE_MINIMAL).writerow(f"x{c}y" for c in candidates)
    fields = buffer.getvalue()[: -len(LINE_END)]
    return "".join(c for c in candidates if f'"x{c}y' in fields or f'"x{c}{c}y' in fields)


QUOTED = _quoted_characters()
_NEEDS_QUOTES = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in QUOTED) + "]"  # RE2 character class


def write_csv(frame: pd.DataFrame, handle: BinaryIO, header: bool = True) -> None:
    """Write ``frame`` as CSV to the binary ``handle``: the bytes of ``frame.to_csv(handle, header=header,
    index=False, date_format="%Y-%m-%d", encoding="utf-8")``.

    A frame of fewer than ``FAST_ROWS`` rows, or with a column of a kind not handled here, is written by pandas.
    Rows are encoded ``CHUNK_ROWS`` at a time, two chunks at once on worker threads (Arrow and the compiled passes
    run without the GIL), and written in order while the next ones are encoded; at most ``2 + 1`` chunks are held.
    """
    small = len(frame) < FAST_ROWS  # pandas is quicker than the compiled passes' first call in a process
    columns = [] if small else [_field_maker(frame.iloc[:, j]) for j in range(frame.shape[1])]
    if not columns or any(column is None for column in columns):
        frame.to_csv(handle, header=header, index=False, date_format="%Y-%m-%d", encoding="utf-8")
        return
    if header:
        frame.iloc[:0].to_csv(handle, index=False, encoding="utf-8")
    chunks = [slice(start, min(start + CHUNK_ROWS, len(frame))) for start in range(0, len(frame), CHUNK_ROWS)]
    with ThreadPoolExecutor(WORKERS) as pool:
        pending: deque = deque()
        for rows in chunks:
            pending.append(pool.submit(_encode_rows, columns, rows))
            if len(pending) > WORKERS:
                handle.write(memoryview(pending.popleft().result()))
        while pending:
            handle.write(memoryview(pending.popleft().result()))


def _encode_rows(columns: list[Column], rows: slice) -> np.ndarray:
    """The CSV lines of the ``rows`` of the table whose columns are ``columns``, as bytes."""
    fields = [make(rows) for make, _ in columns]
    offsets = np.empty((len(fields), rows.stop - rows.start + 1), dtype=np.int64)
    base = 0
    for k, (starts, _) in enumerate(fields):
        offsets[k] = starts + base
        base += starts[-1]
    data = np.concatenate([text for _, text in fields]) if len(fields) > 1 else fields[0][1]
    floats = np.array([shortest for _, shortest in columns], dtype=np.bool_)
    return _join_rows(offsets, data, floats, np.frombuffer(LINE_END.encode(), np.uint8))


Fields = tuple[np.ndarray, np.ndarray]  # (n + 1,) int64 offsets from 0 and the uint8 bytes of n fields
Column = tuple[Callable[[slice], Fields], bool]  # a slice of rows -> fields; whether they are Arrow's float text


def _field_maker(column: pd.Series) -> Column | None:
    """A function giving the CSV fields of ``column``'s rows in a slice (for floats Arrow's shortest text, which
    :func:`_join_rows` lays out as ``repr``, and True), or None when the column's kind is not handled here."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype):
        values = column.to_numpy()
        if dtype == np.float64:
            return lambda rows: _shortest(values[rows]), True
        if dtype.kind in "iu":
            return lambda rows: _arrow_fields(pc.cast(pa.array(values[rows]), pa.large_string())), False
        if dtype.kind == "b":
            return lambda rows: _arrow_fields(pc.if_else(pa.array(values[rows]), "True", "False")), False
        if dtype.kind == "M":
            days = _days(values)
            return None if days is None else (lambda rows: _dates(days[rows]), False)
        if dtype.kind != "O":
            return None
    try:
        text = pa.array(column.array, from_pandas=True)  # a column of several Arrow chunks gives them as they are
    except (pa.ArrowException, TypeError, ValueError):
        return None
    text = text if isinstance(text, pa.ChunkedArray) else pa.chunked_array([text])
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type) or pa.types.is_null(text.type)):
        return None
    text = text.cast(pa.large_string()).fill_null("")
    return lambda rows: _text(text[rows.start : rows.stop]), False


def _arrow_fields(text: pa.Array | pa.ChunkedArray) -> Fields:
    """The offsets (from 0) and bytes of an Arrow text array without missing values."""
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    text = text.cast(pa.large_string())
    if len(text) == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    _, offsets, data = text.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int64)[text.offset : text.offset + len(text) + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return offsets - offsets[0], data[offsets[0] : offsets[-1]]


def _text(text: pa.ChunkedArray) -> Fields:
    """Text cells as fields: quoted (``"`` doubled) where they hold a character the ``csv`` module quotes."""
    needs = pc.match_substring_regex(text, _NEEDS_QUOTES)
    if pc.any(needs).as_py():
        quote, nothing = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
        quoted = pc.binary_join_element_wise(quote, pc.replace_substring(text, '"', '""'), quote, nothing)
        text = pc.if_else(needs, quoted, text)
    return _arrow_fields(text)


def _shortest(values: np.ndarray) -> Fields:
    """Arrow's shortest text of each float (``1e-9``, ``0.00001``, ``1``, ``nan``; the digits of ``repr``)."""
    return _arrow_fields(pc.cast(pa.array(np.ascontiguousarray(values)), pa.large_string()))


def _days(values: np.ndarray) -> np.ndarray | None:
    """Days since 1970-01-01 of naive datetimes (floor; NaT stays the int64 minimum), or None when a date falls
    outside the years 1000..9999 (pandas writes those years unpadded: left to pandas)."""
    days = values.astype("datetime64[D]").view(np.int64)  # floor; NaT stays NaT
    missing = days == np.iinfo(np.int64).min
    present = days[~missing]
    if present.size and (present.min() < _DAY_RANGE[0] or present.max() > _DAY_RANGE[1]):
        return None
    return days


def _dates(days: np.ndarray) -> Fields:
    """``YYYY-MM-DD`` of days since 1970-01-01 (the int64 minimum, NaT, empty)."""
    offsets = np.empty(len(days) + 1, dtype=np.int64)
    out = np.empty(len(days) * 10, dtype=np.uint8)
    _civil_dates(days, offsets, out)
    return offsets, out[: offsets[-1]]


# ------------------------------------------------------------------------------------------ compiled passes
_DIGIT0, _DOT, _MINUS, _PLUS, _E, _QUOTE = 48, 46, 45, 43, 101, 34


@numba.njit(cache=True, nogil=True)
def _repr_into(data, lo, hi, out, pos, digits):  # pragma: no cover - compiled
    """Write Arrow's shortest text of a float (``data[lo:hi]``: ``[-]digits[.digits][e[+-]digits]``, ``inf``,
    ``nan``) as Python's ``repr`` lays the same digits out, into ``out`` from ``pos``; return the end. ``nan``
    becomes an empty field. ``digits`` is scratch room for the significant digits."""
    negative = data[lo] == _MINUS
    start = lo + 1 if negative else lo
    tiny = hi - start > 5 and data[start] == _DIGIT0 and data[start + 2 : start + 6].sum() == 4 * _DIGIT0  # 0.0000
    if not tiny:  # Arrow's positional text with a point (1e-4 <= |x| < 1e16) is repr's: copied as it is
        end, point = pos, False
        for j in range(lo, hi):
            c = data[j]
            if c == _E or c > 57:  # an exponent, inf or nan
                point = False
                break
            point |= c == _DOT
            out[end] = c
            end += 1
        if point:
            return end
    if data[start] == 110:  # nan: missing
        return pos
    if negative:
        out[pos] = _MINUS
        pos += 1
    if data[start] == 105:  # inf
        for k in range(3):
            out[pos + k] = data[start + k]
        return pos + 3
    n, whole, exponent, in_fraction = 0, 0, 0, False  # significant digits; places before the point
    j = start
    while j < hi and data[j] != _E:
        c = data[j]
        if c == _DOT:
            in_fraction = True
        elif n > 0 or c != _DIGIT0:
            digits[n] = c
            n += 1
            if not in_fraction:
                whole += 1
        elif in_fraction:
            whole -= 1  # a zero between the point and the first significant digit
        j += 1
    if j < hi:  # e[+-]digits
        k = j + 1
        sign = -1 if data[k] == _MINUS else 1
        if data[k] == _MINUS or data[k] == _PLUS:
            k += 1
        while k < hi:
            exponent = exponent * 10 + (data[k] - _DIGIT0)
            k += 1
        exponent *= sign
    while n > 0 and digits[n - 1] == _DIGIT0:
        n -= 1
    if n == 0:  # zero
        out[pos] = _DIGIT0
        out[pos + 1] = _DOT
        out[pos + 2] = _DIGIT0
        return pos + 3
    point = whole + exponent  # the value is 0.DIGITS x 10**point
    if -4 < point <= 16:  # positional, as repr writes 1e-4 <= |x| < 1e16
        if point <= 0:
            out[pos] = _DIGIT0
            out[pos + 1] = _DOT
            pos += 2
            for _ in range(-point):
                out[pos] = _DIGIT0
                pos += 1
            for k in range(n):
                out[pos] = digits[k]
                pos += 1
        elif point >= n:
            for k in range(n):
                out[pos] = digits[k]
                pos += 1
            for _ in range(point - n):
                out[pos] = _DIGIT0
                pos += 1
            out[pos] = _DOT
            out[pos + 1] = _DIGIT0
            pos += 2
        else:
            for k in range(n):
                if k == point:
                    out[pos] = _DOT
                    pos += 1
                out[pos] = digits[k]
                pos += 1
        return pos
    out[pos] = digits[0]  # scientific: d[.ddd]e[+-]XX (two exponent digits at least)
    pos += 1
    if n > 1:
        out[pos] = _DOT
        pos += 1
        for k in range(1, n):
            out[pos] = digits[k]
            pos += 1
    e = point - 1
    out[pos] = _E
    out[pos + 1] = _MINUS if e < 0 else _PLUS
    pos += 2
    e = -e if e < 0 else e
    width = 3 if e >= 100 else 2
    for k in range(width - 1, -1, -1):
        out[pos + k] = _DIGIT0 + e % 10
        e //= 10
    return pos + width


@numba.njit(cache=True, nogil=True)
def _civil_dates(days, offsets, out):  # pragma: no cover - compiled
    """``YYYY-MM-DD`` of each day count (Hinnant's civil_from_days); the int64 minimum (NaT) gives an empty field."""
    pos = 0
    offsets[0] = 0
    for i in range(len(days)):
        if days[i] == np.iinfo(np.int64).min:
            offsets[i + 1] = pos
            continue
        z = days[i] + 719_468
        era = (z if z >= 0 else z - 146_096) // 146_097
        doe = z - era * 146_097
        yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        day = doy - (153 * mp + 2) // 5 + 1
        month = mp + 3 if mp < 10 else mp - 9
        year = yoe + era * 400 + (1 if month <= 2 else 0)
        for k in range(3, -1, -1):
            out[pos + k] = _DIGIT0 + year % 10
            year //= 10
        out[pos + 4] = _MINUS
        out[pos + 5] = _DIGIT0 + month // 10
        out[pos + 6] = _DIGIT0 + month % 10
        out[pos + 7] = _MINUS
        out[pos + 8] = _DIGIT0 + day // 10
        out[pos + 9] = _DIGIT0 + day % 10
        pos += 10
        offsets[i + 1] = pos


@numba.njit(cache=True, nogil=True)
def _join_rows(offsets, data, floats, line_end):  # pragma: no cover - compiled
    """The rows of fields (column ``k``'s field ``i`` is ``data[offsets[k, i]:offsets[k, i + 1]]``; laid out as
    ``repr`` by :func:`_repr_into` where ``floats[k]``) joined by commas, each ended by ``line_end``; a row of one
    empty field is ``""`` (as the csv module writes it)."""
    columns, n = offsets.shape[0], offsets.shape[1] - 1
    size = n * (columns - 1 + len(line_end) + (2 if columns == 1 else 0))
    for k in range(columns):
        size += n * REPR_WIDTH if floats[k] else offsets[k, n] - offsets[k, 0]
    out = np.empty(size, dtype=np.uint8)
    digits = np.empty(REPR_WIDTH, dtype=np.uint8)
    pos = 0
    for i in range(n):
        start = pos
        for k in range(columns):
            if k > 0:
                out[pos] = 44
                pos += 1
            if floats[k]:
                pos = _repr_into(data, offsets[k, i], offsets[k, i + 1], out, pos, digits)
            else:
                for j in range(offsets[k, i], offsets[k, i + 1]):
                    out[pos] = data[j]
                    pos += 1
        if pos == start and columns == 1:
            out[pos] = _QUOTE
            out[pos + 1] = _QUOTE
            pos += 2
        for k in range(len(line_end)):
            out[pos + k] = line_end[k]
        pos += len(line_end)
    return out[:pos]
