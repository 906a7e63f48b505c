"""Tables built when they are used: a :class:`TableSource` holds what a large tidy table is built from and builds it
whole (``frame()``) or as consecutive slices of rows (``slices(rows)``), so that a run can write it to a file one
slice at a time (:func:`eventstudy.io.write_table`) without the whole frame in memory. :class:`LazyTable` makes an
attribute of a results object hold either a frame or a source, and read as the frame (built on first access, then
kept).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol

import pandas as pd


class TableSource(Protocol):
    """What a tidy table is built from. ``len()`` is its number of rows, ``frame()`` the whole table;
    ``slices(rows)`` yields its rows in order as frames of ``rows`` rows each (the last one shorter; one empty
    frame, with the table's columns and dtypes, for an empty table) whose concatenation is ``frame()``."""

    def __len__(self) -> int: ...  # rows of the table

    def frame(self) -> pd.DataFrame: ...

    def slices(self, rows: int) -> Iterator[pd.DataFrame]: ...


class LazyTable:
    """A dataclass field (a descriptor) holding a table as a frame or as a :class:`TableSource`; reading it gives the
    frame, built from the source on first access and then kept in place of the source (the source's memory is then
    the frame's or freed). ``vars(obj)[name]`` is what the field holds now (frame or source), for writers that can
    take a source as it is. The field has no default."""

    _building = threading.Lock()  # one build at a time: two threads reading the field never build the frame twice

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: object, owner: type | None = None) -> pd.DataFrame:
        if obj is None:  # the dataclass asks for a default: there is none
            raise AttributeError(self._name)
        with self._building:
            value = vars(obj)[self._name]
            if not isinstance(value, pd.DataFrame):
                value = vars(obj)[self._name] = value.frame()
        return value

    def __set__(self, obj: object, value: pd.DataFrame | TableSource) -> None:
        vars(obj)[self._name] = value
