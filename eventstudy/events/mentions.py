"""What extraction finds in an article: each mention with the span of text that supports it and a confidence."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A stretch of the article: ``text[start:end] == matched``."""

    start: int
    end: int
    matched: str

    def __str__(self) -> str:
        return f"[{self.start}:{self.end}] {self.matched!r}"


@dataclass(frozen=True)
class CompanyMention:
    """One place where the text names a company, mapped through one alias."""

    ticker: str
    company: str
    exchange: str
    alias: str
    alias_type: str
    span: Span
    confidence: float


@dataclass(frozen=True)
class TickerProposal:
    """A company named in the article with all its mentions; confidence combines them (noisy-or)."""

    ticker: str
    company: str
    exchange: str
    confidence: float
    mentions: tuple[CompanyMention, ...]

    @property
    def span(self) -> Span:
        """The strongest (then first) supporting mention."""
        return max(self.mentions, key=lambda m: (m.confidence, -m.span.start)).span


@dataclass(frozen=True)
class ElementMention:
    """A chemical element named ("neodymium") or written as a symbol in clear context ("Ho, Er, Tm")."""

    element: str
    symbol: str
    rare_earth: bool
    span: Span
    confidence: float


@dataclass(frozen=True)
class InstrumentMention:
    """A legal instrument: a numbered announcement ("MOFCOM Announcement No. 61 of 2025") or a named one."""

    instrument: str
    span: Span
    confidence: float


@dataclass(frozen=True)
class DateMention:
    """A date written in the text, resolved to a calendar date where possible.

    ``precision`` is ``day``, ``week`` (``date`` = the Monday) or ``month`` (``date`` = the 1st). ``kind`` is
    ``absolute`` or ``relative``; a relative date, or an absolute one without a year, resolves only against a
    publication date (otherwise ``date`` is None).
    """

    date: dt.date | None
    precision: str
    kind: str
    span: Span
    confidence: float


@dataclass(frozen=True)
class DirectionCue:
    """A phrase that points to tightening (``weight > 0``) or easing (``weight < 0``) of export controls."""

    direction: str
    weight: float
    span: Span


@dataclass(frozen=True)
class Direction:
    """Net direction of the article.

    ``score = (T - E) / (T + E)`` in [-1, 1] with ``T``, ``E`` the summed cue weights (title cues count
    double; a body cue at relative position ``p`` in [0, 1) counts ``1.5 - p`` times, since news leads with
    what matters); ``label`` is ``tightening`` for ``score >= 0.2``, ``easing`` for ``score <= -0.2``, else
    ``unclear``. ``confidence = |score| * (1 - exp(-(T + E) / 3))``: strong and well-supported.
    """

    label: str
    score: float
    confidence: float
    cues: tuple[DirectionCue, ...]


@dataclass(frozen=True)
class ProposedDate:
    """The date proposed for the event, with where it came from (``mention`` or ``published``)."""

    date: dt.date
    basis: str
    confidence: float
    span: Span | None


def title_span(text: str) -> tuple[int, int]:
    """Start and end of the first line of three words or more (skips "Logo"-style debris); (0, 0) if none."""
    for m in re.finditer(r"[^\n]+", text):
        if len(m.group(0).split()) >= 3:
            return m.start(), m.end()
    return 0, 0
