"""One exception hierarchy for everything a user can get wrong.

Every message names the file, row, ticker or date at fault and says what to do. The CLI turns any
``EventStudyError`` into one line on stderr and exit status 2.
"""

from __future__ import annotations


class EventStudyError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class InputError(EventStudyError):
    """A user file or argument is malformed (columns, dates, numbers, duplicates)."""


class EventError(InputError):
    """An event (or catalog row) cannot be used: bad date, time zone, venue, listing date."""


class PriceDataError(InputError):
    """Price data is missing, duplicated, non-positive or does not cover what the study needs."""


class WindowError(InputError):
    """Estimation or event windows are inconsistent (start > end, overlap, longer than the history)."""


class StoreError(EventStudyError):
    """The local price store cannot be read or written (locked, damaged, conflicting values)."""


class FetchError(EventStudyError):
    """Prices could not be downloaded (no network, unknown or delisted ticker)."""


class ClusterError(EventStudyError):
    """The Dask scheduler cannot be reached, or the cluster lost a task more often than it may retry."""


class OutputError(EventStudyError):
    """Outputs cannot be written where asked (a folder holding other files, permissions, full disk)."""
