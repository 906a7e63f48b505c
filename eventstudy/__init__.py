"""eventstudy: measure how news moves stock prices, with honest statistics."""

from eventstudy.errors import EventStudyError
from eventstudy.events import EventSet, read_confounders, read_events, read_listings
from eventstudy.prices import read_prices
from eventstudy.results import EventStudyResults
from eventstudy.study import EventStudy

__all__ = [
    "EventSet",
    "EventStudy",
    "EventStudyError",
    "EventStudyResults",
    "read_confounders",
    "read_events",
    "read_listings",
    "read_prices",
]
__version__ = "0.1.0"
