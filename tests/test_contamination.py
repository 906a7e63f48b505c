"""Contamination labels from the compiled walk against the definition, pair by pair in Python: the marks of the
pair's ticker (or '*') inside each window, clipped to the venue, not of the pair's own event, distinct labels in
mark order (confounders in file order, then the masking events)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy.engine.contamination import flag_contamination
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
    contamination = {w: np.full(len(events), "", dtype=object) for w in WINDOWS}
    flag_contamination(contamination, rows, events, confounders, venue, WINDOWS)
    for window in WINDOWS:
        expected = _by_definition(venue, events, rows, confounders, window)
        got = {i: text for i, text in enumerate(contamination[window]) if text}
        assert got == expected, window
    assert any("; " in text for text in contamination[(-5, 10)])
    assert contamination[(0, 250)].astype(bool).sum() > 100 and any("FOMC" in text for text in contamination[(0, 0)])


def test_no_marks_no_labels():
    venue, events, rows, _ = _case(4, False)
    contamination = {w: np.full(len(events), "", dtype=object) for w in WINDOWS}
    flag_contamination(contamination, rows, events.iloc[0:0], None, venue, WINDOWS)
    assert not any(c.any() for c in contamination.values())
