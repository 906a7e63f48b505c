"""Inference layer: honest statistics when events share dates or overlap in time.

Holds which tests are robust to cross-correlation (:mod:`eventstudy.inference.families`) and the average
correlation of overlapping CARs (:mod:`eventstudy.inference.correlation`). Works on plain arrays handed down by
the engine.
"""

from eventstudy.inference.families import FAMILIES, NAIVE_TESTS, ROBUST_TESTS, family

__all__ = ["FAMILIES", "NAIVE_TESTS", "ROBUST_TESTS", "family"]
