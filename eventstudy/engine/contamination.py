"""Contamination labels: which confounders and other events' days 0 fall inside each pair's event windows.

A pair's window [day0 + a, day0 + b] (sessions, clipped to the venue) is contaminated by every mark inside it: a
confounder of its ticker or of all tickers (``*``), or the day 0 of another masking event of its ticker (a mark of
the pair's own event is not counted). Its label joins the distinct labels of those marks, in mark order
(confounders in file order, then the masking events), with "; ".

Marks are sorted by (ticker, session); one compiled merge of the pairs with them (:func:`_hull_marks`) finds each
pair's marks inside the hull of the event windows (all windows at once) in mark order, so the work grows with pairs
+ hits, never with (events per ticker)^2. One compiled pass (:func:`_label_sequences`) then keeps, per window, the
marks inside it and each label's first, and numbers the distinct sequences of labels by hashing them: each distinct
label is joined once, by one Arrow call. The labels are kept as :class:`Labels`: an integer code per pair into one
Arrow array of the distinct labels, the same array for all windows (no Python string per pair).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

import eventstudy.kernel_cache  # noqa: F401  (before the kernels: their cache keyed on what they compile in)
from eventstudy.timing.venues import Venue

Window = tuple[int, int]
_CLEAN = pa.array([""], type=pa.large_string())  # the table of clean pairs' labels
_SEPARATOR = "; "


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
        return cls(np.zeros(n_pairs, dtype=np.int32), _CLEAN)  # one table: a study's windows share it

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, rows) -> Labels:
        """The labels of the pairs ``rows`` (codes into the same table)."""
        return Labels(self.codes[rows], self.table)

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
    without a session on or after their date (``day0_index`` < 0) are never flagged. The ``windows``' labels end
    in one table (:func:`_assign`)."""
    marked = (mask_alignment["venue"] == venue.name).to_numpy(dtype=bool) & (
        mask_alignment["day0_index"] >= 0
    ).to_numpy()
    e_ticker, e_event = (_kept(mask_alignment[name], marked) for name in ("ticker", "event_id"))
    m_at = mask_alignment["day0_index"].to_numpy(dtype=np.int64)[marked]
    keep = rows["day0_index"].to_numpy() >= 0
    pos = rows.index.to_numpy()[keep]
    n_conf = 0 if confounders is None else len(confounders)
    if len(pos) == 0 or len(m_at) + n_conf == 0:
        return
    day0 = rows["day0_index"].to_numpy(dtype=np.int64)[keep]
    p_ticker, p_event = (_kept(rows[name], keep) for name in ("ticker", "event_id"))
    empty = pa.array([], type=pa.large_string())
    c_ticker, c_label = (_text(confounders[name]) for name in ("ticker", "label")) if n_conf else (empty, empty)
    if n_conf:
        m_at = np.concatenate([session_index(venue, confounders["date"]).astype(np.int64), m_at])
    (p_code, c_code, e_code), _ = _codes(p_ticker, c_ticker, e_ticker)
    m_code = np.concatenate([c_code, e_code])  # the marks: confounders in file order, then the masking events
    (p_id, e_id), event_ids = _codes(p_event, e_event)
    m_id = np.concatenate([np.full(n_conf, -1), e_id])  # a confounder is no pair's own event
    prefix, nothing = pa.scalar("event ", type=pa.large_string()), pa.scalar("", type=pa.large_string())
    (c_label_code, e_label_code), vocabulary = _codes(c_label, pc.binary_join_element_wise(prefix, event_ids, nothing))
    label_code = np.concatenate([c_label_code, e_label_code[e_id]])  # each distinct label's code
    m_ticker = pa.chunked_array([c_ticker, e_ticker], type=pa.large_string())
    wild = pc.equal(m_ticker, "*").to_numpy(zero_copy_only=False)
    span = len(venue.sessions) + 1  # a mark's session lies in [0, sessions]
    specific = np.flatnonzero(~wild)
    specific = specific[_by_ticker_and_session(m_code[specific], m_at[specific], span)]
    s_key = m_code[specific] * span + m_at[specific]
    anywhere = np.flatnonzero(wild)
    anywhere = anywhere[np.argsort(m_at[anywhere], kind="stable")]
    order = _by_ticker_and_session(p_code, day0, span)  # pairs by (ticker, day 0): a merge with the marks
    key, p_id, day0 = p_code[order] * span, p_id[order], day0[order]
    distinct = list(dict.fromkeys(windows))
    lo = np.stack([np.clip(day0 + w[0], 0, span) for w in distinct])  # clipped to the venue, then increasing
    hi = np.stack([np.clip(day0 + w[1], -1, span - 1) for w in distinct])
    lo_all, hi_all = lo.min(axis=0), hi.max(axis=0)  # the hull of the windows: every window's marks are in it
    wild_keys = m_at[anywhere]
    a_first = np.searchsorted(wild_keys, lo_all, side="left")
    a_count = np.maximum(np.searchsorted(wild_keys, hi_all, side="right") - a_first, 0)
    marks, counts = _hull_marks(specific, s_key, key + lo_all, key + hi_all, anywhere, a_first, a_count, p_id, m_id)
    sequence, flat, offsets = _label_sequences(m_at[marks], label_code[marks], counts, lo, hi, len(vocabulary))
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), vocabulary.take(pa.array(flat)))
    joined = pc.binary_join(lists, pa.scalar(_SEPARATOR, type=pa.large_string()))
    _assign(contamination, distinct, pos[order], joined, sequence, _joined_apart(vocabulary))


def _joined_apart(labels: pa.Array) -> bool:
    """Whether distinct sequences of distinct ``labels`` always join to distinct, non-empty texts: true when no
    label is empty or missing or holds the separator "; " (then the separators are the only "; " in a text: a
    label's last character next to the separator's ";" or its first next to the separator's " " makes none)."""
    return (
        labels.null_count == 0
        and pc.min(pc.binary_length(labels)).as_py() > 0
        and not pc.any(pc.match_substring(labels, _SEPARATOR)).as_py()
    )


def _assign(
    contamination: dict[Window, Labels],
    windows: list[Window],
    at: np.ndarray,
    texts: pa.Array,
    which: np.ndarray,
    apart: bool,
) -> None:
    """Give the pairs ``at`` of each window ``windows[w]`` the labels ``texts[which[w] - 1]`` ("" where ``which`` is
    0; ``which`` (W, len(at))). The windows' labels end in one table, so that a study's windows share it (the car
    table's column is one gather from it): the windows' clean table followed by ``texts`` when ``apart`` (the texts
    are distinct and not "", :func:`_joined_apart`), else the tables they had and the texts merged by hashing (no
    label twice: two label sequences may join to the same text)."""
    tables = list({id(contamination[w].table): contamination[w].table for w in windows}.values())
    if apart and len(tables) == 1 and len(tables[0]) == 1:  # no label yet: nothing to merge
        table = pa.concat_arrays([tables[0], texts])
        for w, window in enumerate(windows):
            codes = contamination[window].codes
            codes[at] = which[w]
            contamination[window] = Labels(codes, table)
        return
    merged = pa.concat_arrays([*tables, _CLEAN, texts]).dictionary_encode()  # the first table's codes stay
    remap = merged.indices.to_numpy(zero_copy_only=False)
    starts = dict(zip(map(id, tables), np.cumsum([0, *map(len, tables)]), strict=False))
    for w, window in enumerate(windows):
        labels = contamination[window]
        start = starts[id(labels.table)]
        codes = labels.codes if start == 0 else remap[start + labels.codes]
        codes[at] = remap[len(remap) - len(texts) - 1 + which[w]]
        contamination[window] = Labels(codes, merged.dictionary)


def session_index(venue: Venue, dates: pd.Series) -> np.ndarray:
    """Position of each date's session, or of the next session when the venue is closed that day."""
    return np.searchsorted(venue.sessions.values, pd.to_datetime(dates).values, side="left")


def _text(column: pd.Series) -> pa.Array:
    """A column as one Arrow text array (no Python strings for a column already held by Arrow)."""
    text = pa.array(column.astype(str), type=pa.large_string(), from_pandas=True)
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def _by_ticker_and_session(code: np.ndarray, at: np.ndarray, span: int) -> np.ndarray:
    """``np.argsort(code * span + at, kind="stable")`` (``code`` >= 0, 0 <= ``at`` < ``span``): when both keys fit
    in 16 bits, a stable sort by ``at`` then one by ``code`` (numpy sorts 16-bit integers by radix: 1M rows 0.15 ->
    0.03 s), else the one sort."""
    if len(code) and code.max() < 2**15 and span <= 2**15:
        by_session = np.argsort(at.astype(np.int16), kind="stable")
        return by_session[np.argsort(code[by_session].astype(np.int16), kind="stable")]
    return np.argsort(code * span + at, kind="stable")


def _kept(column: pd.Series, keep: np.ndarray) -> pa.Array:
    """The rows ``keep`` (a boolean mask) of a text column, as one Arrow text array."""
    text = _text(column)
    return text if keep.all() else text.filter(pa.array(keep))


def _codes(*parts: pa.Array) -> tuple[list[np.ndarray], pa.Array]:
    """One integer per distinct value of the text arrays ``parts`` (hashed by Arrow, one numbering for all): each
    part's codes, and the distinct values."""
    encoded = pa.chunked_array(parts, type=pa.large_string()).dictionary_encode().combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return np.split(codes, np.cumsum([len(part) for part in parts[:-1]])), encoded.dictionary


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
def _hull_marks(specific, s_key, lo, hi, anywhere, a_first, a_count, p_id, m_id):  # pragma: no cover - compiled
    """Per pair p (pairs in increasing ``lo`` and ``hi``): its marks, the ``specific`` ones whose sorted ``s_key``
    lies in [lo[p], hi[p]] (one merge of the keys with the pairs) and ``anywhere[a_first[p]:][:a_count[p]]``, but
    those of its own event (``m_id`` == ``p_id[p]``), in mark order. Returns them one pair after another, and each
    pair's number."""
    first, last, total = 0, 0, a_count.sum()
    for p in range(len(lo)):  # the number of marks in range, to size the output
        first, last = _advance(s_key, lo[p], hi[p], first, last)
        total += last - first
    marks, counts = np.empty(total, dtype=np.int64), np.zeros(len(lo), dtype=np.int64)
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
        counts[p] = n - start
    return marks[:n], counts


@numba.njit(cache=True, nogil=True)
def _label_sequences(at, label, counts, lo, hi, n_labels):  # pragma: no cover - compiled
    """Each window w's label of each pair p: of the pair's marks (``counts[p]`` of them, in mark order; their
    sessions ``at`` and label codes ``label``) those whose session lies in [lo[w, p], hi[w, p]], each label code's
    first only. Equal sequences of label
    codes are found by hashing them (each checked element by element), so each distinct label is built once.
    Returns ``which`` (W, P) int64, a sequence number per window and pair (0: no mark), and the distinct sequences
    (1, 2, ...): their label codes one after another and their (n + 1,) offsets."""
    n_windows, n_pairs = lo.shape
    which = np.zeros((n_windows, n_pairs), dtype=np.int64)
    size = 1024
    slots = np.full(size, -1, dtype=np.int64)  # open addressing on the hashes: a sequence number, or -1
    flat = np.empty(max(len(at), 16), dtype=np.int64)
    offsets = np.zeros(n_pairs + 1, dtype=np.int64)
    hashes = np.zeros(n_pairs + 1, dtype=np.uint64)
    seen = np.zeros(n_labels, dtype=np.int64)  # the last (pair, window) stamp that kept each label code
    n_seq, start, stamp = 0, 0, 0
    for p in range(n_pairs):
        end = start + counts[p]
        for w in range(n_windows):
            stamp += 1
            top = offsets[n_seq]  # the candidate is written after the distinct sequences
            if top + end - start > len(flat):
                grown = np.empty(2 * len(flat) + end - start, dtype=np.int64)
                grown[:top] = flat[:top]
                flat = grown
            n, h = top, np.uint64(14695981039346656037)
            for j in range(start, end):
                code = label[j]
                if lo[w, p] <= at[j] <= hi[w, p] and seen[code] != stamp:
                    seen[code] = stamp
                    flat[n] = code
                    n += 1
                    h = (h ^ np.uint64(code)) * np.uint64(1099511628211)  # FNV-1a
            if n == top:
                continue
            h ^= h >> np.uint64(33)  # mixed into the low bits, which pick the slot
            h *= np.uint64(0xFF51AFD7ED558CCD)
            h ^= h >> np.uint64(33)
            if 2 * (n_seq + 1) > size:  # keep the table at most half full: twice the size, rehashed
                size *= 2
                slots = np.full(size, -1, dtype=np.int64)
                for s in range(n_seq):
                    slot = np.int64(hashes[s] & np.uint64(size - 1))
                    while slots[slot] >= 0:
                        slot = (slot + 1) & (size - 1)
                    slots[slot] = s
            slot = np.int64(h & np.uint64(size - 1))
            while slots[slot] >= 0:
                s = slots[slot]
                if hashes[s] == h and offsets[s + 1] - offsets[s] == n - top:
                    i = 0
                    while i < n - top and flat[offsets[s] + i] == flat[top + i]:
                        i += 1
                    if i == n - top:
                        break
                slot = (slot + 1) & (size - 1)
            if slots[slot] >= 0:
                which[w, p] = slots[slot] + 1
                continue
            if n_seq + 2 > len(offsets):
                offsets = np.concatenate((offsets, np.zeros(len(offsets), dtype=np.int64)))
                hashes = np.concatenate((hashes, np.zeros(len(hashes), dtype=np.uint64)))
            slots[slot], hashes[n_seq] = n_seq, h
            n_seq += 1
            offsets[n_seq] = n
            which[w, p] = n_seq
        start = end
    return which, flat[: offsets[n_seq]], offsets[: n_seq + 1]
