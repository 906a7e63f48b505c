"""Calendar positions of (pairs x days) as windows onto one flat table, so a study's (P, D) positions are never built.

Row i, day t of a :class:`RowPositions` is ``table[offset[i] + t]`` (an int position on one sorted calendar, -1: no
date). A (P, C) array is one such table (offsets i times its row stride, read in place); the engine's session grid
gives every pair's row as a window onto the ranks of its venue's sessions padded with -1 on both sides
(:meth:`~eventstudy.engine.grid.SessionGrid.calendar_rows`: a table of about the sessions' length and (P,)
offsets). The compiled kernels of rbar and the calendar-time tests read ``table[offset[i] + t]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RowPositions:
    """(P, width) int positions: row i is ``table[offset[i] : offset[i] + width]``."""

    table: np.ndarray  # (T,) int16 or int32, -1 where a day has no date
    offset: np.ndarray  # (P,) int64
    width: int

    @classmethod
    def of(cls, positions: np.ndarray | RowPositions) -> RowPositions:
        """``positions`` as rows of one table: a (P, C) array whose days are contiguous in memory (a C-ordered
        array or a slice of its columns) is read in place, any other layout copied once."""
        if isinstance(positions, RowPositions):
            return positions
        positions = np.asarray(positions)
        if positions.ndim != 2:
            raise ValueError(f"positions must be (pairs, days), got {positions.ndim} dimensions")
        n, width = positions.shape
        size = positions.itemsize
        row = positions.strides[0] // size if n > 1 else width
        scattered = width > 1 and positions.strides[1] != size
        if scattered or n > 1 and (positions.strides[0] % size or row < width):
            positions, row = np.ascontiguousarray(positions), width
        length = (n - 1) * row + width if n and width else 0
        table = np.lib.stride_tricks.as_strided(positions, shape=(length,), strides=(size,), writeable=False)
        return cls(table, np.arange(n, dtype=np.int64) * row, width)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.offset), self.width

    def columns(self, days: slice | np.ndarray) -> RowPositions:
        """The days ``days`` of every row: a slice of consecutive days is a window onto the same table (no copy);
        other days (indices or a mask) are gathered."""
        if isinstance(days, slice):
            start, stop, step = days.indices(self.width)
            if step == 1:
                return RowPositions(self.table, self.offset + start, max(stop - start, 0))
            days = np.arange(start, stop, step)
        days = np.arange(self.width)[days]
        return RowPositions.of(self.table[self.offset[:, None] + days[None, :]])

    def rows(self, rows: np.ndarray) -> RowPositions:
        """The rows ``rows`` (indices or a mask), on the same table."""
        return RowPositions(self.table, self.offset[rows], self.width)

    def dense(self) -> np.ndarray:
        """The (P, width) array."""
        return self.table[self.offset[:, None] + np.arange(self.width)[None, :]]
