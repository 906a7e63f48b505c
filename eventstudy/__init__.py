"""eventstudy: measure how news moves stock prices, with honest statistics."""

from eventstudy.engine.robustness import robustness
from eventstudy.engine.study import EventStudy
from eventstudy.errors import EventStudyError
from eventstudy.events.catalog import EventSet, read_confounders, read_events, read_listings
from eventstudy.prices.factors import read_factors
from eventstudy.prices.files import read_prices
from eventstudy.results import EventStudyResults

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
