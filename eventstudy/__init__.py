"""eventstudy: measure how news moves stock prices, with honest statistics.

The public names below are imported when first used (PEP 562 ``__getattr__``), so ``import eventstudy`` alone
loads none of pandas, numba or scipy, and the command line imports only what its subcommand needs (and does so
with the garbage collector paused: see :func:`eventstudy.cli.entry`). ``from eventstudy import EventStudy`` works
as before.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

# numba runs the parallel kernels on OpenMP threads. With OMP_WAIT_POLICY unset, an idle OpenMP worker spins for a
# while after each parallel region, taking a core from the study's other threads (the tests run on several at once):
# a 1,000,000-pair fit() used 1.1-1.4 s more CPU and its tests 0.3 s more wall that way. Set here, before any kernel
# starts OpenMP, so the workers sleep when idle; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

if TYPE_CHECKING:  # the names below, for type checkers; at run time they come from __getattr__
    from eventstudy.engine.robustness import robustness
    from eventstudy.engine.study import EventStudy
    from eventstudy.errors import EventStudyError
    from eventstudy.events.catalog import EventSet, read_confounders, read_events, read_listings
    from eventstudy.prices.factors import read_factors
    from eventstudy.prices.files import read_prices
    from eventstudy.results import EventStudyResults

# public name -> the module that defines it
_PUBLIC = {
    "EventSet": "eventstudy.events.catalog",
    "EventStudy": "eventstudy.engine.study",
    "EventStudyError": "eventstudy.errors",
    "EventStudyResults": "eventstudy.results",
    "read_confounders": "eventstudy.events.catalog",
    "read_events": "eventstudy.events.catalog",
    "read_factors": "eventstudy.prices.factors",
    "read_listings": "eventstudy.events.catalog",
    "read_prices": "eventstudy.prices.files",
    "robustness": "eventstudy.engine.robustness",
}
__all__ = [
    "EventSet",
    "EventStudy",
    "EventStudyError",
    "EventStudyResults",
    "read_confounders",
    "read_events",
    "read_factors",
    "read_listings",
    "read_prices",
    "robustness",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    """A public name, imported from its module on first use; else one of the package's subpackages or modules."""
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value  # later lookups find it without this call
        return value
    if name.startswith("_"):  # probes such as __wrapped__ or __path__ lookups name no module
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
