"""``EventStudy``: events + prices -> aligned panel -> normal-return model -> statistics -> results."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from eventstudy.engine.normal import check_model_options
from eventstudy.engine.panel import Window, Windows
from eventstudy.engine.stages import finish, run_pairs
from eventstudy.engine.volume import VOLUME_MODELS, check_volume
from eventstudy.errors import InputError
from eventstudy.events.catalog import EventSet, read_confounders, read_events
from eventstudy.hugepages import numpy_advice_off
from eventstudy.kernel_cache import record_first_fit
from eventstudy.prices.factors import read_factors
from eventstudy.prices.files import LONG_COLUMNS, MAX_MOVE, read_prices
from eventstudy.results import EventStudyResults

DEFAULT_ESTIMATION: Window = (-250, -11)
DEFAULT_WINDOWS: tuple[Window, ...] = ((-1, 1), (0, 0), (0, 5), (-5, 10))
MASK_POLICIES = ("catalog", "events", "none")


class EventStudy:
    """An event study over (event, ticker) pairs.

    Parameters
    ----------
    events
        An :class:`~eventstudy.events.EventSet`, or a path / DataFrame read with
        :func:`~eventstudy.events.read_events` (``tickers`` applied when the file has no ticker column).
    prices
        A long price frame (:func:`~eventstudy.prices.read_prices`), or a path to read.
    market
        Benchmark ticker, or ``{venue: ticker}`` (e.g. ``{"XNYS": "SPY", "XSHG": "000300.SS"}``; ``"*"`` for any
        other venue). Not needed for the constant-mean model.
    model
        ``"market"`` (OLS alpha, beta), ``"market-adjusted"``, ``"constant-mean"``, ``"factor"`` (OLS on the
        market and ``factors``), ``"ff3"``, ``"ff5"``, ``"carhart"`` (OLS of R - RF on the factors of
        ``factors_file``) or ``"garch"`` (market model with GARCH(1,1) errors).
    factors_file
        Daily factor returns for the ff3/ff5/carhart models: path(s) read with
        :func:`~eventstudy.prices.read_factors` (Ken French daily CSVs or plain CSVs), or such a table.
    beta
        ``"ols"``, or a thin-trading beta for the market model: ``"dimson"`` or ``"scholes-williams"``.
    jobs
        Processes for the per-pair GARCH fits.
    max_move
        A session's price above ``max_move`` times (or below 1 / ``max_move`` of) the previous one is a data error,
        not a return (default 10).
    volume
        None, or abnormal volume (Campbell & Wasley 1996) against the estimation-window ``"mean"`` of log(1 + V) or
        a ``"market"`` model of it on the benchmark's log volume: adds ``av`` and ``cav`` tables and
        ``measure == "volume"`` rows to ``tests``.
    estimation, windows
        Estimation window and event windows in event time, inclusive.
    calendar
        None: each ticker on its own venue's calendar; an exchange_calendars code: all tickers on it; ``"data"``:
        the dates in the price data are the sessions.
    listed
        First valid trading date per ticker: earlier prices never enter the study.
    min_obs
        Minimum clean estimation returns; below it a pair is ``insufficient`` (``on_insufficient="skip"``) or
        falls back to market-adjusted returns (``"market-adjusted"``, needs at least 20 returns), disclosed in
        ``parameters``.
    mask_events, confounders
        Other announcements and dated shocks whose days are masked out of estimation windows and flagged in
        event windows (default: the study's own events).
    group_tests
        ``"event+all"``: the battery per event and pooled; ``"all"``: pooled only (fast for large backtests).
    mask
        Which events' windows are masked out of estimation windows: ``"catalog"`` the ``mask_events`` (default
        when they are given), ``"events"`` the study's own events (default otherwise), ``"none"`` no event
        (backtests with many events per ticker). Confounders are masked and other events flagged either way.
    placebo_draws, seed
        In-time placebo inference (:mod:`eventstudy.engine.placebo`): the number of pseudo-event draws (0: off;
        None: 99 draws when that is at most 50,000 pseudo pairs, else off) and the seed that reproduces them.
    bootstrap_draws
        Draws B of the wild cluster bootstrap of the CAAR (:mod:`eventstudy.inference.bootstrap`; 0: off), seeded
        with ``seed``; all 2^D sign patterns (exact) when 2^D <= B.
    """

    def __init__(
        self,
        events: EventSet | str | Path | pd.DataFrame,
        prices: pd.DataFrame | str | Path | Iterable[str | Path],
        *,
        market: str | Mapping[str, str] | None = None,
        model: str = "market",
        factors: Sequence[str] = (),
        tickers: Sequence[str] | None = None,
        estimation: Window = DEFAULT_ESTIMATION,
        windows: Sequence[Window] = DEFAULT_WINDOWS,
        calendar: str | None = None,
        venues: Mapping[str, str] | None = None,
        listed: Mapping[str, str | pd.Timestamp] | None = None,
        min_obs: int = 60,
        on_insufficient: str = "skip",
        returns: str = "simple",
        mask_events: EventSet | None = None,
        confounders: pd.DataFrame | str | Path | None = None,
        group_tests: str = "event+all",
        factors_file: str | Path | Sequence[str | Path] | pd.DataFrame | None = None,
        beta: str = "ols",
        jobs: int = 1,
        volume: str | None = None,
        max_move: float = MAX_MOVE,
        mask: str | None = None,
        placebo_draws: int | None = None,
        seed: int = 0,
        bootstrap_draws: int = 999,
    ) -> None:
        if volume not in (None, *VOLUME_MODELS):
            raise InputError(f"unknown volume model {volume!r}: choose one of {', '.join(VOLUME_MODELS)}")
        if volume == "market" and market is None:
            raise InputError("the market volume model needs a market benchmark with volume: pass --market TICKER")
        if factors_file is None or isinstance(factors_file, pd.DataFrame):
            self.factor_table, self.factor_files = factors_file, None
        else:
            self.factor_table = read_factors(factors_file)
            paths = [factors_file] if isinstance(factors_file, str | Path) else list(factors_file)
            self.factor_files = [str(p) for p in paths]
        check_model_options(model, market, self.factor_table, beta, returns)
        if on_insufficient not in ("skip", "market-adjusted"):
            raise InputError("on_insufficient must be 'skip' or 'market-adjusted'")
        if on_insufficient == "market-adjusted" and market is None:
            raise InputError("the market-adjusted fallback needs a market benchmark")
        if group_tests not in ("event+all", "all"):
            raise InputError("group_tests must be 'event+all' or 'all'")
        if not max_move > 1:
            raise InputError(f"max_move={max_move} must be above 1 (a factor such as 10 for a tenfold one-day move)")
        mask = mask or ("catalog" if mask_events is not None else "events")
        if mask not in MASK_POLICIES:
            raise InputError(f"mask must be one of {', '.join(MASK_POLICIES)}, not {mask!r}")
        if mask == "catalog" and mask_events is None:
            raise InputError("mask='catalog' masks the catalog's events: pass mask_events= (CLI: --catalog FILE)")
        if placebo_draws is not None and placebo_draws < 0:
            raise InputError(f"placebo_draws={placebo_draws} must be 0 (off) or a positive number of draws")
        if bootstrap_draws < 0:
            raise InputError(f"bootstrap_draws={bootstrap_draws} must be 0 (off) or a positive number of draws")
        if min_obs < 3:
            raise InputError(f"min_obs={min_obs} is too small to estimate a variance: use at least 3")
        self.events = events if isinstance(events, EventSet) else read_events(events, tickers)
        if not self.events.frame.index.equals(pd.RangeIndex(len(self.events))):
            self.events = EventSet(self.events.frame.reset_index(drop=True))
        self.prices = prices if isinstance(prices, pd.DataFrame) else read_prices(prices)
        missing = set(LONG_COLUMNS) - set(self.prices.columns)
        if missing:
            raise InputError(f"the price frame lacks columns {sorted(missing)}: build it with read_prices()")
        self.market = {"*": market} if isinstance(market, str) else (dict(market) if market else None)
        self.model = model
        self.factors = [f for f in factors if f not in (self.market or {}).values()]
        self.windows = Windows(tuple(estimation), tuple(tuple(w) for w in windows))
        self.calendar = calendar
        self.venues = dict(venues or {})
        self.listed = {t: pd.Timestamp(d) for t, d in (listed or {}).items()}
        self.min_obs = int(min_obs)
        self.on_insufficient = on_insufficient
        self.returns = returns
        self.mask_events = mask_events
        self.confounders = None if confounders is None else read_confounders(confounders)
        self.group_tests = group_tests
        self.beta = beta
        self.jobs = int(jobs)
        self.volume = volume
        self.max_move = float(max_move)
        self.mask = mask
        self.placebo_draws = placebo_draws
        self.seed = int(seed)
        self.bootstrap_draws = int(bootstrap_draws)

    def config(self) -> dict:
        """The run's settings, as written to ``run.json``."""
        return {
            "model": self.model,
            "market": self.market,
            "factors": self.factors,
            "estimation": list(self.windows.estimation),
            "windows": [list(w) for w in self.windows.events],
            "calendar": self.calendar or "venue",
            "venues": self.venues,
            "listed": {t: str(d.date()) for t, d in self.listed.items()},
            "min_obs": self.min_obs,
            "on_insufficient": self.on_insufficient,
            "returns": self.returns,
            "group_tests": self.group_tests,
            "mask": self.mask,
            "confounders": 0 if self.confounders is None else len(self.confounders),
            "beta": self.beta,
            "factors_file": self.factor_files,
            "volume": self.volume,
            "max_move": self.max_move,
            "placebo_draws": "auto" if self.placebo_draws is None else self.placebo_draws,
            "seed": self.seed,
            "bootstrap_draws": self.bootstrap_draws,
        }

    def fit(self, prices_table: bool = True) -> EventStudyResults:
        """Run the study: align, estimate, compute AR/CAR/BHAR/AAR/CAAR and the test battery.

        ``prices_table=False`` leaves ``results.prices`` empty (no copy of the used price rows: ``eventstudy run``
        writes that table only with ``--report``).
        """
        if self.volume is not None:
            check_volume(self.prices, self.volume, list((self.market or {}).values()))
        with numpy_advice_off():  # its (pairs x days) arrays without huge-page stalls (eventstudy.hugepages)
            results = finish(self, run_pairs(self, self.events, self.prices), prices_table, release=True)
        record_first_fit()  # the kernels it loaded, for the next process to load ahead (eventstudy.kernel_cache)
        return results
