"""Contamination labels: which confounders and other events' days 0 fall inside each pair's event windows.

A pair's window [day0 + a, day0 + b] (sessions, clipped to the venue) is contaminated by every mark inside it: a
confounder of its ticker or of all tickers (``*``), or the day 0 of another masking event of its ticker (a mark of
the pair's own event is not counted). Its label joins the distinct labels of those marks, in mark order
(confounders in file order, then the masking events), with "; ".

Marks are sorted by (ticker, session); each pair finds the marks of its ticker inside a window by binary search,
and one compiled walk per window (:func:`_window_marks`) puts each pair's marks in mark order and keeps each
label's first, so the work grows with pairs + hits, never with (events per ticker)^2; the labels are joined by one
Arrow call over all pairs and kept as :class:`Labels`: an integer code per pair into one Arrow array of the distinct
labels (no Python string per pair).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.timing.venues import Venue

Window = tuple[int, int]


@dataclass
class Labels:
    """The contamination labels of pairs: ``table[codes]``, the label of each pair.

    ``codes``: (P,) int32, a position in ``table`` per pair; ``table``: the distinct labels (Arrow large_string, no
    label twice), ``table[0]`` = "" (clean).
    """

    codes: np.ndarray
    table: pa.Array

    @classmethod
    def clean(cls, n_pairs: int) -> Labels:
        """Labels of ``n_pairs`` clean pairs."""
        return cls(np.zeros(n_pairs, dtype=np.int32), pa.array([""], type=pa.large_string()))

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, rows) -> Labels:
        """The labels of the pairs ``rows`` (codes into the same table)."""
        return Labels(self.codes[rows], self.table)

    def assign(self, at: np.ndarray, text: pa.Array) -> None:
        """Give the pairs ``at`` the labels ``text`` (one per pair); labels new to the table are appended to it."""
        encoded = text.dictionary_encode()
        merged = pa.concat_arrays([self.table, encoded.dictionary]).dictionary_encode()  # the table's codes stay
        remap = merged.indices.to_numpy(zero_copy_only=False)[len(self.table) :]
        self.codes[at] = remap[encoded.indices.to_numpy(zero_copy_only=False)]
        self.table = merged.dictionary

    @classmethod
    def concat(cls, parts: list[Labels], order: np.ndarray | None = None) -> Labels:
        """The labels of all ``parts`` one after another (then taken in ``order``, if given): one table of the
        labels of all (the parts' own when they share it, e.g. chunks of one study's pairs)."""
        table = parts[0].table
        if all(part.table is table for part in parts):
            codes = [part.codes for part in parts]
        else:
            merged = pa.concat_arrays([part.table for part in parts]).dictionary_encode()  # "" stays code 0
            remap = merged.indices.to_numpy(zero_copy_only=False)
            starts = np.cumsum([0, *(len(part.table) for part in parts[:-1])])
            codes = [remap[start + part.codes] for start, part in zip(starts, parts, strict=True)]
            table = merged.dictionary
        codes = np.concatenate(codes)
        return cls(codes if order is None else codes[order], table)


def flag_contamination(
    contamination: dict[Window, Labels],
    rows: pd.DataFrame,
    mask_alignment: pd.DataFrame,
    confounders: pd.DataFrame | None,
    venue: Venue,
    windows: tuple[Window, ...],
) -> None:
    """Give each pair of ``rows`` (one venue's pairs, with ``ticker``, ``event_id``, ``day0_index``) that has a mark
    in an event window its label (see the module docstring) in ``contamination[window]`` at the pair's row; pairs
    without a session on or after their date (``day0_index`` < 0) are never flagged."""
    events = mask_alignment[(mask_alignment["venue"] == venue.name) & (mask_alignment["day0_index"] >= 0)]
    m_ticker, m_other = [_text(events["ticker"])], [_text(events["event_id"])]
    m_at = [events["day0_index"].to_numpy(dtype=np.int64)]
    prefix = pa.scalar("event ", type=pa.large_string())
    m_label = [pc.binary_join_element_wise(prefix, m_other[0], pa.scalar("", type=pa.large_string()))]
    if confounders is not None and not confounders.empty:
        m_ticker.insert(0, _text(confounders["ticker"]))
        m_at.insert(0, session_index(venue, confounders["date"]).astype(np.int64))
        m_other.insert(0, pa.array([""] * len(confounders), type=pa.large_string()))
        m_label.insert(0, _text(confounders["label"]))
    m_ticker, m_other, m_label = (pa.concat_arrays(x) for x in (m_ticker, m_other, m_label))
    m_at = np.concatenate(m_at)
    pos = rows.index.to_numpy()[rows["day0_index"].to_numpy() >= 0]
    if len(pos) == 0 or len(m_at) == 0:
        return
    day0 = rows.loc[pos, "day0_index"].to_numpy(dtype=np.int64)
    codes = _codes(pa.concat_arrays([_text(rows.loc[pos, "ticker"]), m_ticker]))
    p_code, m_code = codes[: len(pos)], codes[len(pos) :]
    ids = _codes(pa.concat_arrays([_text(rows.loc[pos, "event_id"]), m_other]))
    p_id, m_id = ids[: len(pos)].astype(np.int64), ids[len(pos) :].astype(np.int64)
    label_code = _codes(m_label).astype(np.int64)
    wild = pc.equal(m_ticker, "*").to_numpy(zero_copy_only=False)
    span = len(venue.sessions) + 1  # a mark's session lies in [0, sessions]
    specific = np.flatnonzero(~wild)
    specific = specific[np.argsort(m_code[specific] * span + m_at[specific], kind="stable")]
    s_key = m_code[specific] * span + m_at[specific]
    anywhere = np.flatnonzero(wild)
    anywhere = anywhere[np.argsort(m_at[anywhere], kind="stable")]
    order = np.argsort(p_code * span + day0, kind="stable")  # pairs by (ticker, day 0): a merge with the marks
    key, p_id = p_code[order] * span, p_id[order]
    wild_keys = m_at[anywhere]

    def label(window: Window) -> None:  # Arrow and the compiled walk release the GIL: the windows run side by side
        lo_at = np.clip(day0[order] + window[0], 0, span)  # clipped to the venue, the keys then increasing
        hi_at = np.clip(day0[order] + window[1], -1, span - 1)
        a_first = np.searchsorted(wild_keys, lo_at, side="left")
        a_count = np.maximum(np.searchsorted(wild_keys, hi_at, side="right") - a_first, 0)
        marks, kept = _window_marks(
            specific, s_key, key + lo_at, key + hi_at, anywhere, a_first, a_count, p_id, m_id, label_code
        )
        has = kept > 0
        offsets = pa.array(np.r_[0, np.cumsum(kept[has])], type=pa.int64())
        lists = pa.LargeListArray.from_arrays(offsets, m_label.take(pa.array(marks)))
        joined = pc.binary_join(lists, pa.scalar("; ", type=pa.large_string()))
        contamination[window].assign(pos[order[has]], joined)

    distinct = list(dict.fromkeys(windows))  # each window's labels written by one thread
    with ThreadPoolExecutor(max(min(len(distinct), numba.get_num_threads()), 1)) as pool:
        list(pool.map(label, distinct))


def session_index(venue: Venue, dates: pd.Series) -> np.ndarray:
    """Position of each date's session, or of the next session when the venue is closed that day."""
    return np.searchsorted(venue.sessions.values, pd.to_datetime(dates).values, side="left")


def _text(column: pd.Series) -> pa.Array:
    """A column as one Arrow text array (no Python strings for a column already held by Arrow)."""
    text = pa.array(column.astype(str), type=pa.large_string(), from_pandas=True)
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def _codes(text: pa.Array) -> np.ndarray:
    """An integer per distinct value of ``text`` (hashed by Arrow)."""
    return text.dictionary_encode().indices.to_numpy(zero_copy_only=False)


@numba.njit(cache=True, inline="always")
def _advance(s_key, lo, hi, first, last):  # pragma: no cover - compiled
    """The sorted ``s_key`` in [lo, hi] are s_key[first:last]: both bounds moved on from the previous pair's."""
    while first < len(s_key) and s_key[first] < lo:
        first += 1
    last = max(last, first)
    while last < len(s_key) and s_key[last] <= hi:
        last += 1
    return first, last


@numba.njit(cache=True, nogil=True)
def _window_marks(specific, s_key, lo, hi, anywhere, a_first, a_count, p_id, m_id, label_code):  # pragma: no cover
    """Per pair p (pairs in increasing ``lo`` and ``hi``): its marks, the ``specific`` ones whose sorted ``s_key``
    lies in [lo[p], hi[p]] (one merge of the keys with the pairs) and ``anywhere[a_first[p]:][:a_count[p]]``, but
    those of its own event (``m_id`` == ``p_id[p]``), in mark order, each label's first only. Returns them one
    pair after another, and each pair's number."""
    first, last, total = 0, 0, a_count.sum()
    for p in range(len(lo)):  # the number of marks in range, to size the output
        first, last = _advance(s_key, lo[p], hi[p], first, last)
        total += last - first
    marks, kept = np.empty(total, dtype=np.int64), np.zeros(len(lo), dtype=np.int64)
    seen = np.zeros(len(label_code), dtype=np.int64)  # the last pair (+ 1) that kept a mark of each label code
    first, last, n = 0, 0, 0
    for p in range(len(lo)):
        first, last = _advance(s_key, lo[p], hi[p], first, last)
        start = n
        for j in range(first, last):
            if m_id[specific[j]] != p_id[p]:
                marks[n] = specific[j]
                n += 1
        for j in range(a_first[p], a_first[p] + a_count[p]):
            if m_id[anywhere[j]] != p_id[p]:
                marks[n] = anywhere[j]
                n += 1
        for j in range(start + 1, n):  # insertion sort into mark order (a window holds few marks)
            m, i = marks[j], j
            while i > start and marks[i - 1] > m:
                marks[i] = marks[i - 1]
                i -= 1
            marks[i] = m
        end, n = n, start
        for j in range(start, end):
            if seen[label_code[marks[j]]] != p + 1:
                seen[label_code[marks[j]]] = p + 1
                marks[n] = marks[j]
                n += 1
        kept[p] = n - start
    return marks[:n], kept
