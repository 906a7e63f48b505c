"""Second-stage regression: each pair's CAR on firm characteristics, with robust standard errors.

CAR_i = c_0 + c'z_i + u_i by OLS over the studied pairs of one event window (statsmodels). Standard errors:

* ``hc3``: MacKinnon & White (1985) HC3, (X'X)^-1 X' diag(u_i^2 / (1 - h_ii)^2) X (X'X)^-1, h_ii the leverage;
* ``cluster-date``: clustered by the pairs' day 0 (Rogers 1993; pairs on one date share the market shock),
  G / (G - 1) (N - 1) / (N - K) (X'X)^-1 (sum_g X_g'u_g u_g'X_g) (X'X)^-1, G the number of dates (at least 2).

t and p use Student's t with N - K degrees of freedom (HC3) or G - 1 (clustered), two-sided.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from eventstudy.errors import InputError

COV_TYPES = ("hc3", "cluster-date")
REGRESSION_COLUMNS = ["term", "coef", "se", "t", "p_value", "cov_type", "n", "r2"]


def read_characteristics(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read firm characteristics: a CSV (or frame) keyed by ``ticker`` or ``event_id,ticker``; numeric columns."""
    name = "characteristics" if isinstance(source, pd.DataFrame) else str(source)
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        try:
            frame = pd.read_csv(source)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise InputError(f"{source}: cannot be read as a characteristics CSV ({exc})") from exc
    if "ticker" not in frame.columns:
        raise InputError(f"{name}: no 'ticker' column: key the characteristics by ticker or by event_id,ticker")
    keys = ["event_id", "ticker"] if "event_id" in frame.columns else ["ticker"]
    frame[keys] = frame[keys].astype(str)
    dup = frame.duplicated(keys)
    if dup.any():
        raise InputError(f"{name}: {dict(frame.loc[dup, keys].iloc[0])} appears twice: keep one row per key")
    values = [c for c in frame.columns if c not in keys]
    if not values:
        raise InputError(f"{name}: no characteristic columns besides {', '.join(keys)}")
    for col in values:
        numeric = pd.to_numeric(frame[col], errors="coerce")
        bad = numeric.isna() & frame[col].notna()
        if bad.any():
            row = frame.index[bad.to_numpy()][0]
            raise InputError(f"{name}, row {row + 2}: {col}={frame.loc[row, col]!r} is not a number")
        frame[col] = numeric
    return frame


def regress_car(car: pd.DataFrame, characteristics: pd.DataFrame, cov: str, dates: pd.Series) -> pd.DataFrame:
    """OLS of ``car`` (event_id, ticker, car) on ``characteristics`` (see :func:`read_characteristics`).

    ``dates`` is each pair's day 0, aligned with ``car`` (the clusters of ``cov="cluster-date"``).
    Pairs with a missing CAR or characteristic are left out. Returns the ``regression.csv`` table.
    """
    import statsmodels.api as sm

    if cov not in COV_TYPES:
        raise InputError(f"unknown covariance {cov!r}: choose one of {', '.join(COV_TYPES)}")
    keys = ["event_id", "ticker"] if "event_id" in characteristics.columns else ["ticker"]
    terms = [c for c in characteristics.columns if c not in keys]
    data = car.assign(cluster=pd.to_datetime(dates).to_numpy()).astype({"event_id": str, "ticker": str})
    data = data.merge(characteristics, on=keys, how="left")
    unmatched = data[terms].isna().all(axis=1)
    if unmatched.all():
        raise InputError(f"no studied pair has characteristics: keys {', '.join(keys)} match none of the run's pairs")
    data = data.dropna(subset=["car", *terms])
    n, k = len(data), len(terms) + 1
    if n <= k:
        raise InputError(f"{n} pairs with a CAR and every characteristic: too few for {k} coefficients")
    x = sm.add_constant(data[terms].to_numpy(dtype=float), has_constant="add")
    model = sm.OLS(data["car"].to_numpy(dtype=float), x)
    if cov == "hc3":
        res = model.fit(cov_type="HC3", use_t=True)
    else:
        groups = pd.factorize(data["cluster"])[0]
        if groups.max() < 1:
            raise InputError("cluster-date needs pairs on at least two dates: use --cov hc3 for a single event date")
        res = model.fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    return pd.DataFrame(
        {
            "term": ["const", *terms],
            "coef": res.params,
            "se": res.bse,
            "t": res.tvalues,
            "p_value": res.pvalues,
            "cov_type": cov,
            "n": n,
            "r2": res.rsquared,
        },
        columns=REGRESSION_COLUMNS,
    )
