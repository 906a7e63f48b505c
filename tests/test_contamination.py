"""Contamination labels from the compiled walk against the definition, pair by pair in Python: the marks of the
pair's ticker (or '*') inside each window, clipped to the venue, not of the pair's own event, distinct labels in
mark order (confounders in file order, then the masking events)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from eventstudy.engine.contamination import (
    Labels,
    _by_ticker_and_session,
    _joined_apart,
    _label_sequences,
    flag_contamination,
)
from eventstudy.timing.venues import Venue

WINDOWS = ((-1, 1), (0, 0), (-5, 10), (3, 40), (-60, -45), (0, 250))  # some reach past either end of the data


def _case(seed: int, wildcards: bool):
    rng = np.random.default_rng(seed)
    sessions = pd.bdate_range("2020-01-01", periods=120)
    venue = Venue.from_dates(sessions)
    n_events = 400
    events = pd.DataFrame(
        {
            "venue": np.where(rng.random(n_events) < 0.9, venue.name, "XNYS"),  # other venues' events are ignored
            "ticker": rng.choice(["A", "B", "C", "D"], n_events),
            "event_id": [f"E{i % 150}" for i in range(n_events)],  # an event over several tickers
            "day0_index": np.where(rng.random(n_events) < 0.05, -1, rng.integers(0, 120, n_events)),
        }
    )
    rows = events[events["venue"] == venue.name].sample(frac=0.7, random_state=seed)  # the pairs, any order
    rows.index = rng.permutation(len(events))[: len(rows)]
    n_conf = 30
    confounders = pd.DataFrame(
        {
            "date": sessions[rng.integers(0, 120, n_conf)] + pd.Timedelta(hours=1) * rng.integers(0, 2, n_conf),
            "ticker": rng.choice(["A", "B", "*"] if wildcards else ["A", "B", "Z"], n_conf),
            "label": rng.choice(["split", "FOMC", "event E3", "merger"], n_conf),  # one repeats an event's label
        }
    )
    return venue, events, rows, confounders


def _by_definition(venue, events, rows, confounders, window):
    at = np.searchsorted(venue.sessions.values, pd.to_datetime(confounders["date"]).values)
    marks = [(t, m, "", lab) for t, m, lab in zip(confounders["ticker"], at, confounders["label"], strict=True)]
    own = events[(events["venue"] == venue.name) & (events["day0_index"] >= 0)]
    marks += [(r.ticker, r.day0_index, r.event_id, f"event {r.event_id}") for r in own.itertuples()]
    out = {}
    for r in rows.itertuples():
        if r.day0_index < 0:
            continue
        lo, hi = max(r.day0_index + window[0], 0), min(r.day0_index + window[1], len(venue.sessions))
        hits = [lab for t, m, e, lab in marks if t in (r.ticker, "*") and lo <= m <= hi and e != r.event_id]
        if hits:
            out[r.Index] = "; ".join(dict.fromkeys(hits))
    return out


@pytest.mark.parametrize(("seed", "wildcards"), [(1, True), (2, False), (3, True)])
def test_labels_are_the_definitions(seed, wildcards):
    venue, events, rows, confounders = _case(seed, wildcards)
    contamination = {w: Labels.clean(len(events)) for w in WINDOWS}
    flag_contamination(contamination, rows, events, confounders, venue, WINDOWS)
    texts = {w: _texts(labels) for w, labels in contamination.items()}
    for window in WINDOWS:
        expected = _by_definition(venue, events, rows, confounders, window)
        got = {i: text for i, text in enumerate(texts[window]) if text}
        assert got == expected, window
    assert any("; " in text for text in texts[(-5, 10)])
    assert texts[(0, 250)].astype(bool).sum() > 100 and any("FOMC" in text for text in texts[(0, 0)])


def test_no_marks_no_labels():
    venue, events, rows, _ = _case(4, False)
    contamination = {w: Labels.clean(len(events)) for w in WINDOWS}
    flag_contamination(contamination, rows, events.iloc[0:0], None, venue, WINDOWS)
    assert not any(labels.codes.any() for labels in contamination.values())


def test_labels_of_two_venues_and_of_subsets_concatenated_are_the_definitions():
    """The panel flags venue after venue into one table; a Dask-style run flags subsets of the pairs on their own
    and concatenates them (pair_stage.concat): both give every pair its label, and one table without a label twice."""
    venue, events, _, confounders = _case(5, True)
    other = Venue("XNYS", pd.bdate_range("2020-02-17", periods=80))  # the other venue's sessions are not the first's
    day0 = events["day0_index"].where(events["venue"] == venue.name, events["day0_index"] % 80)
    events["day0_index"] = day0.where(events["day0_index"] >= 0, -1)  # sessions of each pair's venue
    pairs = events.sample(frac=0.8, random_state=5)  # both venues' pairs, any order; row = position in the study
    pairs.index = np.random.default_rng(5).permutation(len(events))[: len(pairs)]
    by_venue = [(v, pairs[pairs["venue"] == v.name]) for v in (venue, other)]
    expected = {
        w: {i: text for v, rows in by_venue for i, text in _by_definition(v, events, rows, confounders, w).items()}
        for w in WINDOWS
    }
    whole = {w: Labels.clean(len(events)) for w in WINDOWS}
    for v, rows in by_venue:
        flag_contamination(whole, rows, events, confounders, v, WINDOWS)
    subsets = np.array_split(pairs.index.to_numpy(), 3)
    parts = []
    for subset in subsets:
        part = {w: Labels.clean(len(subset)) for w in WINDOWS}
        for v, rows in by_venue:
            rows = rows[rows.index.isin(subset)]  # row = position in the subset
            flag_contamination(
                part, rows.set_axis(pd.Index(subset).get_indexer(rows.index)), events, confounders, v, WINDOWS
            )
        parts.append(part)
    order = np.argsort(np.concatenate(subsets), kind="stable")
    for window in WINDOWS:
        concatenated = Labels.concat([part[window] for part in parts], order)
        got = {i: text for i, text in zip(np.sort(pairs.index), _texts(concatenated), strict=True) if text}
        assert got == expected[window] and got, window
        assert {i: text for i, text in enumerate(_texts(whole[window])) if text} == expected[window]
        for labels in (whole[window], concatenated):
            table = labels.table.to_pylist()
            assert table[0] == "" and len(set(table)) == len(table)
    assert any(i in expected[(0, 250)] for i in by_venue[1][1].index)  # the second venue's pairs are flagged too


def _texts(labels: Labels) -> np.ndarray:
    return np.asarray(labels.table, dtype=object)[labels.codes]


def test_windows_share_one_table_and_labels_that_join_alike_stay_one():
    """The windows' labels end in one table (the car table's column is one gather from it); two label sequences
    that join to the same text ("a; b" against "a" then "b") give one label of the table."""
    venue, events, rows, confounders = _case(6, False)
    on_day = events[(events["venue"] == venue.name) & events["ticker"].isin(["A", "B"])]
    alone = on_day.groupby(["day0_index", "ticker"]).size().unstack().eq(1).all(axis=1)  # one event of A, one of B
    both = rows[rows["ticker"].isin(["A", "B"])].groupby("day0_index")["ticker"].nunique() == 2  # a pair of each
    day = alone.index[alone & both.reindex(alone.index, fill_value=False)][0]
    dates = [venue.sessions[day]] * 3
    confounders = pd.DataFrame({"date": dates, "ticker": ["A", "B", "B"], "label": ["a; b", "a", "b"]})
    contamination = {w: Labels.clean(len(events)) for w in WINDOWS}
    flag_contamination(contamination, rows, events, confounders, venue, WINDOWS)
    table = contamination[WINDOWS[0]].table
    assert all(labels.table is table for labels in contamination.values())
    assert len(set(table.to_pylist())) == len(table)
    for window in WINDOWS:
        expected = _by_definition(venue, events, rows, confounders, window)
        assert {i: t for i, t in enumerate(_texts(contamination[window])) if t} == expected
    flagged = rows[(rows["day0_index"] == day) & rows["ticker"].isin(["A", "B"])]  # no other event that day
    codes = contamination[(0, 0)].codes[flagged.index]
    assert len(codes) == 2 and codes[0] == codes[1] and table[codes[0]].as_py() == "a; b"


def test_label_sequences_are_the_distinct_sequences():
    """The compiled pass against a Python dict of tuples, on enough distinct sequences to grow its hash table and
    buffers several times."""
    rng = np.random.default_rng(7)
    n_pairs, n_windows, n_labels = 4000, 5, 60
    counts = rng.integers(0, 9, n_pairs)
    at = rng.integers(0, 30, counts.sum())
    label = rng.integers(0, n_labels, counts.sum())
    lo = rng.integers(-2, 20, (n_windows, n_pairs))
    hi = lo + rng.integers(-1, 15, (n_windows, n_pairs))
    which, flat, offsets = _label_sequences(at, label, counts, lo, hi, n_labels)
    distinct = [tuple(flat[offsets[k] : offsets[k + 1]]) for k in range(len(offsets) - 1)]
    assert len(set(distinct)) == len(distinct) > 2048
    starts = np.r_[0, np.cumsum(counts)]
    for w in range(n_windows):
        for p in range(n_pairs):
            marks = range(starts[p], starts[p + 1])
            kept = tuple(dict.fromkeys(label[j] for j in marks if lo[w, p] <= at[j] <= hi[w, p]))
            assert (distinct[which[w, p] - 1] if which[w, p] else ()) == kept


@pytest.mark.parametrize(("n_codes", "span"), [(2000, 2001), (5, 40_000), (40_000, 30)])
def test_order_by_ticker_and_session_is_the_stable_argsort(n_codes, span):
    """The two 16-bit radix sorts give the stable sort of the combined key (ties in row order), and so does the
    fallback when a key does not fit 16 bits."""
    rng = np.random.default_rng(n_codes)
    code, at = rng.integers(0, n_codes, 50_000), rng.integers(0, span, 50_000)
    expected = np.argsort(code * span + at, kind="stable")
    assert np.array_equal(_by_ticker_and_session(code, at, span), expected)


def test_labels_without_the_separator_join_apart():
    """The condition under which the joined labels are taken as distinct without hashing them: every sequence of up
    to three distinct labels over ";", " " and "a" (none holding "; ") joins to its own text; a label holding the
    separator, an empty one or a missing one fails the condition."""
    alphabet = [";", " ", "a"]
    words = ["".join(w) for n in (1, 2, 3) for w in itertools.product(alphabet, repeat=n)]
    labels = [w for w in words if "; " not in w]
    assert _joined_apart(pa.array(labels, type=pa.large_string()))
    texts = ["; ".join(seq) for n in (1, 2, 3) for seq in itertools.permutations(labels, n)]
    assert len(set(texts)) == len(texts)
    for bad in (["a", "b; c"], ["a", ""], ["a", None]):
        assert not _joined_apart(pa.array(bad, type=pa.large_string()))
