"""Propose events from article text: companies and tickers, elements, instruments, dates and direction.

:func:`extract_events` reads one article and returns an :class:`ExtractedEvent`. Nothing is decided silently:
every proposed field carries the :class:`Span` of text that supports it (``text[span.start:span.end] ==
span.text``) and a confidence in [0, 1], so a researcher can audit each proposal before it enters a study.

Companies are found through the alias table (:mod:`eventstudy.events.aliases`). Names are matched as written (case
matters, word boundaries on both sides), so ordinary words never become tickers: a bare short symbol such as
"MP", "LAC" or "EU" counts only where the text writes it as a ticker ("(NYSE: MP)", "$MP", "shares of MP");
"compact MP3", "black lac", "the EU said" or "IDR 15,000" propose nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from eventstudy.events.aliases import Alias, load_aliases
from eventstudy.events.companies import find_companies, group_companies
from eventstudy.events.dates import find_dates, find_publication
from eventstudy.events.direction import find_direction
from eventstudy.events.elements import find_elements
from eventstudy.events.instruments import find_instruments
from eventstudy.events.mentions import (
    CompanyMention,
    DateMention,
    Direction,
    ElementMention,
    InstrumentMention,
    ProposedDate,
    Span,
    TickerProposal,
    title_span,
)


@dataclass(frozen=True)
class ExtractedEvent:
    """Everything proposed for one article. See :func:`extract_events`."""

    source: str | None
    title: str
    published: dt.date | None
    companies: tuple[CompanyMention, ...]
    elements: tuple[ElementMention, ...]
    instruments: tuple[InstrumentMention, ...]
    dates: tuple[DateMention, ...]
    direction: Direction
    publication: DateMention | None = None  # where the text states its publication date (None: it does not)
    proposed_date: ProposedDate | None = None  # see propose_date
    tickers: tuple[TickerProposal, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tickers", group_companies(self.companies))

    def to_frame(self, event_id: str) -> pd.DataFrame:
        """Rows in the events format the engine reads, one per ticker with a listing.

        Columns: ``event_id, ticker, date, time, timezone, label, kind, source, confidence, evidence``.
        ``date`` is empty when no date could be proposed; ``kind`` is empty when the direction is unclear.
        ``confidence`` is the lower of the ticker's and the date's confidence.
        """
        proposed = self.proposed_date
        kind = self.direction.label if self.direction.label in ("tightening", "easing") else ""
        rows = []
        for tick in self.tickers:
            if not tick.ticker:
                continue
            evidence = [f"{tick.company}: {tick.span}"]
            if self.publication is not None:
                evidence.append(f"published {self.publication.date.isoformat()} {self.publication.span}")
            if proposed is not None:
                where = f" {proposed.span}" if proposed.span else " (publication date)"
                evidence.append(f"date {proposed.date.isoformat()} ({proposed.basis}){where}")
            evidence.append(f"direction {self.direction.label} {self.direction.score:+.2f}")
            rows.append(
                {
                    "event_id": event_id,
                    "ticker": tick.ticker,
                    "date": proposed.date.isoformat() if proposed else "",
                    "time": "",
                    "timezone": "",
                    "label": self.title,
                    "kind": kind,
                    "source": self.source or "",
                    "confidence": round(min(tick.confidence, proposed.confidence if proposed else 0.0), 2),
                    "evidence": "; ".join(evidence),
                }
            )
        return pd.DataFrame(rows, columns=EVENT_COLUMNS)


EVENT_COLUMNS = ["event_id", "ticker", "date", "time", "timezone", "label", "kind", "source", "confidence", "evidence"]


def extract_events(
    text: str,
    published: dt.date | str | None = None,
    source: str | None = None,
    aliases: Iterable[Alias] | None = None,
) -> ExtractedEvent:
    """Propose an event from one article.

    Parameters
    ----------
    text
        The article (title on the first line if it has one).
    published
        Publication date (``date`` or ``YYYY-MM-DD``): resolves relative dates ("on Thursday", "last week")
        and years missing from absolute ones ("Oct. 9"). Default: the date the text states in a ``Published:``
        line or a dateline (:func:`~eventstudy.events.dates.find_publication`).
    source
        Where the text came from (file name or URL), copied to the result.
    aliases
        Alias table; default: the one shipped with the package.

    Returns
    -------
    ExtractedEvent
        Companies (and tickers), elements, instruments, dates and direction, each with its span and confidence.
    """
    if isinstance(published, str):
        published = dt.date.fromisoformat(published)
    publication = find_publication(text)  # its line is never a date of the event
    if published is None and publication is not None:
        published = publication.date
    dates = find_dates(text, published)
    if publication is not None:  # the publication line is not a date of the event
        dates = tuple(d for d in dates if not _overlaps(d.span, publication.span))
    table = tuple(aliases) if aliases is not None else load_aliases()
    companies = find_companies(text, table)
    # "Lithium Americas" names a company, not the element
    elements = tuple(e for e in find_elements(text) if not any(_overlaps(e.span, c.span) for c in companies))
    return ExtractedEvent(
        source=source,
        title=_title(text),
        published=published,
        companies=companies,
        elements=elements,
        instruments=find_instruments(text),
        dates=dates,
        direction=find_direction(text),
        publication=publication,
        proposed_date=propose_date(text, dates, published, publication),
    )


_ACTION = re.compile(
    r"(?i)\b(?:announc|said|says|unveil|issu|publish|impos|add|expand|tighten|ban|restrict|suspend|lift|introduc|"
    r"order|declar|releas|put|placed|approv|halt|loosen|eas)\w*"
)
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z\u201c\"])|\n")


def propose_date(
    text: str, dates: Iterable[DateMention], published: dt.date | None, publication: DateMention | None = None
) -> ProposedDate | None:
    """The event's date: the date of the reported action where the text gives one, else the publication date.

    Candidates are the day-precision dates not after publication (relative ones, "on Thursday", resolved against
    it). The first one in a sentence that reports an action (announced, said, imposed, added, tightened, ...) is
    the event date (basis ``action``, confidence 0.8 x the date's); else the first candidate (basis ``mention``,
    0.65 x); else the publication date (basis ``published``, 0.3, its span when the text states it).
    """
    candidates = [
        d for d in dates if d.precision == "day" and d.date is not None and (published is None or d.date <= published)
    ]
    for mention in candidates:
        if _ACTION.search(_sentence(text, mention.span)):
            return ProposedDate(mention.date, "action", round(0.8 * mention.confidence, 2), mention.span)
    if candidates:
        first = candidates[0]
        return ProposedDate(first.date, "mention", round(0.65 * first.confidence, 2), first.span)
    if published is not None:
        return ProposedDate(published, "published", 0.3, publication.span if publication else None)
    return None


def _sentence(text: str, span: Span) -> str:
    """The sentence around ``span`` (bounded by sentence ends or line breaks)."""
    starts = [m.end() for m in _SENTENCE_END.finditer(text, 0, span.start)]
    end = _SENTENCE_END.search(text, span.end)
    return text[starts[-1] if starts else 0 : end.start() if end else len(text)]


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def _title(text: str) -> str:
    """The title line (see :func:`title_span`), cut to 120 characters."""
    start, end = title_span(text)
    line = text[start:end].strip()
    return line if len(line) <= 120 else line[:119].rstrip() + "…"
