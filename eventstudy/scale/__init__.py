"""Scale layer: the same study on a Dask cluster, with exactly the in-process numbers.

Splits the pairs by ticker group, has each task read only its tickers' prices (a Parquet dataset partitioned by
ticker, a per-ticker folder or the DuckDB store) and run the engine's pair stage, and combines the stages into the
single-process result with the engine's group stage. ``fit_distributed`` is the entry point.
"""

from eventstudy.scale.runner import fit_distributed

__all__ = ["fit_distributed"]
