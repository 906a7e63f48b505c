"""Prices layer: where prices come from and whether they can be trusted.

Reads user files (per-ticker folders, long or wide CSV/Parquet), keeps the DuckDB price store (with the yfinance
adapter behind it), and checks the data. Hands on one validated long price frame (date, ticker, prices) to
the engine.
"""

from eventstudy.prices.files import read_prices

__all__ = ["read_prices"]
