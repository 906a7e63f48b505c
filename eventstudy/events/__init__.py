"""Events layer: what happened and when.

Reads announcement catalogs and user event files into an :class:`EventSet` (dated, time-zoned, sourced, with
tickers), and proposes events from article text (companies mapped to tickers through the shipped alias table,
elements, instruments, dates, direction). Hands on an ``EventSet`` to the engine; imports nothing but
``eventstudy.errors``.
"""

from eventstudy.events.catalog import KINDS, EventSet, read_confounders, read_events, read_listings

__all__ = ["KINDS", "EventSet", "read_confounders", "read_events", "read_listings"]
