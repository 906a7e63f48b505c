"""Prices layer: where prices come from and whether they can be trusted.

Reads user files (per-ticker folders, long or wide CSV/Parquet) and daily factor files (Fama-French, momentum),
keeps the DuckDB price store (with the yfinance adapter behind it), and checks the data. Hands on one validated
long price frame (date, ticker, prices) to the engine.
"""

from eventstudy.prices.factors import read_factors
from eventstudy.prices.files import read_prices

__all__ = ["read_factors", "read_prices"]
