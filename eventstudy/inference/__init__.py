"""Inference layer: honest statistics when events share dates or overlap in time.

Holds which tests are robust to cross-correlation (:mod:`eventstudy.inference.families`) and the methods for
clustered dates and multiple testing. Works on plain arrays and frames handed down by the engine.
"""

from eventstudy.inference.families import NAIVE_TESTS, ROBUST_TESTS

__all__ = ["NAIVE_TESTS", "ROBUST_TESTS"]
