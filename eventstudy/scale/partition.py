"""Split a study's pairs into partitions by ticker group: every pair of a ticker lands in the same partition.

Keeping a ticker's events together is what makes a partition's panel exact: masking other events out of an
estimation window and flagging contamination only ever look at the same ticker's events (and at confounders,
which every partition receives whole), and a ticker's returns are computed once, from its own prices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from eventstudy.events.catalog import EventSet


@dataclass(frozen=True)
class Partition:
    """One task's share of the study: its tickers and the positions of its pairs in the study's event frame."""

    number: int
    tickers: tuple[str, ...]
    positions: np.ndarray  # (n,) int64, increasing: rows of the study's events frame

    def events(self, events: EventSet) -> EventSet:
        """The partition's pairs, in the study's order, with their row positions kept as the frame's index."""
        return EventSet(events.frame.iloc[self.positions])


def partition_by_ticker(events: EventSet, partitions: int) -> list[Partition]:
    """Group the tickers of ``events`` into at most ``partitions`` contiguous, pair-balanced partitions.

    Tickers are taken in sorted order and cut where the running count of pairs crosses a multiple of
    (pairs / partitions), so each partition holds about the same number of pairs (within one ticker's count) and
    a ticker is never split. The count is capped by the number of tickers; empty partitions are dropped.
    """
    frame = events.frame
    if frame.empty:
        return []
    codes, names = pd.factorize(frame["ticker"], sort=True)
    counts = np.bincount(codes, minlength=len(names))
    n_pairs = int(counts.sum())
    wanted = int(min(max(partitions, 1), len(names)))
    before = np.cumsum(counts) - counts  # pairs of the tickers sorted before each ticker
    group = (before * wanted) // n_pairs  # partition of each ticker, non-decreasing
    pair_group = group[codes]
    order = np.lexsort((np.arange(len(codes)), pair_group))
    bounds = np.searchsorted(pair_group[order], np.arange(wanted + 1))
    out = []
    for g in range(wanted):
        positions = order[bounds[g] : bounds[g + 1]]
        if len(positions):
            out.append(Partition(len(out), tuple(names[group == g]), positions.astype(np.int64)))
    return out
