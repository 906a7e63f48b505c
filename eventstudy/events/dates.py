"""Dates in an article: its publication date (a ``Published:`` line or a dateline), absolute dates, and relative
ones ("on Thursday", "last week") resolved against the publication date."""

from __future__ import annotations

import datetime as dt
import re

from eventstudy.events.mentions import (
    DateMention,
    Span,
)

_MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("January", "Jan"),
            ("February", "Feb"),
            ("March", "Mar"),
            ("April", "Apr"),
            ("May",),
            ("June", "Jun"),
            ("July", "Jul"),
            ("August", "Aug"),
            ("September", "Sept", "Sep"),
            ("October", "Oct"),
            ("November", "Nov"),
            ("December", "Dec"),
        ],
        start=1,
    )
    for name in names
}
_FULL_MONTHS = [m for m in _MONTHS if len(m) > 3 or m == "May"]
_MONTH = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<year>(?:19|20)\d{2}))?"
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DATE_PATTERNS = (
    ("iso", re.compile(r"(?<![\d-])(?P<year>\d{4})-(?P<mon>\d{2})-(?P<day>\d{2})(?![\d-])")),
    ("cjk", re.compile(r"(?P<year>\d{4})年(?P<mon>\d{1,2})月(?P<day>\d{1,2})日")),
    ("mdy", re.compile(r"(?<!\w)" + _MONTH + r"\s+" + _DAY + r"(?!\w)" + _YEAR + r"(?![\w-])")),
    ("dmy", re.compile(r"(?<![\w.,])" + _DAY + r"\s+" + _MONTH + r"(?!\w)" + _YEAR + r"(?![\w-])")),
    (
        "month",
        re.compile(
            r"(?<!\w)(?:[Ii]n|[Ss]ince|[Bb]y|[Ff]rom|[Dd]uring|[Uu]ntil|[Ee]arly|[Ll]ate|[Mm]id-?)\s+"
            r"(?:early\s+|late\s+|mid-)?(?P<mon>" + "|".join(_FULL_MONTHS) + r")(?:\s+(?P<year>(?:19|20)\d{2}))?(?!\w)"
        ),
    ),
    ("today", re.compile(r"(?<!\w)(?P<word>[Tt]oday|[Yy]esterday)(?!\w)")),
    (
        "weekday",
        re.compile(
            r"(?<!\w)(?:(?P<rel>[Oo]n|[Ll]ast|[Tt]his|[Nn]ext|[Ss]ince|[Bb]y|[Ee]arly|[Ll]ate)\s+)?"
            r"(?P<wd>" + "|".join(_WEEKDAYS) + r")(?!\w)"
        ),
    ),
    (
        "period",
        re.compile(
            r"(?<!\w)(?P<rel>[Ll]ast|[Tt]his|[Nn]ext|[Pp]ast|[Ee]arlier this|[Ll]ater this|[Ee]arlier in the)\s+"
            r"(?P<unit>week|month)(?!\w)"
        ),
    ),
)


def find_dates(text: str, published: dt.date | None = None) -> tuple[DateMention, ...]:
    """Dates written in the text; relative ones (and years left out) are resolved against ``published``."""
    candidates: list[DateMention] = []
    for kind, regex in _DATE_PATTERNS:
        for m in regex.finditer(text):
            mention = _date_mention(kind, m, text, published)
            if mention is not None:
                candidates.append(mention)
    candidates.sort(key=lambda d: (-(d.span.end - d.span.start), d.span.start))
    kept: list[DateMention] = []
    for cand in candidates:
        if not any(cand.span.start < k.span.end and k.span.start < cand.span.end for k in kept):
            kept.append(cand)
    return tuple(sorted(kept, key=lambda d: d.span.start))


def _date_mention(kind: str, m: re.Match[str], text: str, published: dt.date | None) -> DateMention | None:
    span = Span(m.start(), m.end(), m.group(0))
    g = m.groupdict()
    if kind in ("iso", "cjk", "mdy", "dmy"):
        month = int(g["mon"]) if kind in ("iso", "cjk") else _MONTHS[g["mon"]]
        day = int(g["day"])
        if g.get("year"):
            try:
                return DateMention(dt.date(int(g["year"]), month, day), "day", "absolute", span, 0.95)
            except ValueError:
                return None
        if not 1 <= day <= 31:
            return None
        resolved = _nearest_year(month, day, published)
        return DateMention(resolved, "day", "absolute", span, 0.7 if resolved else 0.5)
    if kind == "month":
        month = _MONTHS[g["mon"]]
        if g.get("year"):
            return DateMention(dt.date(int(g["year"]), month, 1), "month", "absolute", span, 0.8)
        if published is None:
            return DateMention(None, "month", "absolute", span, 0.4)
        year = published.year if month <= published.month else published.year - 1
        return DateMention(dt.date(year, month, 1), "month", "relative", span, 0.6)
    if published is None:
        precision = g["unit"] if kind == "period" else "day"
        return DateMention(None, precision, "relative", span, 0.3)
    if kind == "today":
        offset = 0 if g["word"].lower() == "today" else 1
        return DateMention(published - dt.timedelta(days=offset), "day", "relative", span, 0.85)
    if kind == "weekday":
        target = _WEEKDAYS.index(g["wd"])
        rel = (g.get("rel") or "").lower()
        back = (published.weekday() - target) % 7
        if rel == "next":
            date = published + dt.timedelta(days=(target - published.weekday()) % 7 or 7)
        elif rel == "last":
            date = published - dt.timedelta(days=back or 7)
        else:
            date = published - dt.timedelta(days=back)
        return DateMention(date, "day", "relative", span, 0.8 if rel else 0.65)
    rel = g["rel"].lower()
    step = -1 if rel in ("last", "past") else 1 if rel == "next" else 0
    if g["unit"] == "week":
        monday = published - dt.timedelta(days=published.weekday())
        return DateMention(monday + dt.timedelta(weeks=step), "week", "relative", span, 0.7)
    index = published.year * 12 + published.month - 1 + step
    return DateMention(dt.date(index // 12, index % 12 + 1, 1), "month", "relative", span, 0.7)


def _nearest_year(month: int, day: int, published: dt.date | None) -> dt.date | None:
    """The date closest to ``published`` among last year, this year and next year (None without it)."""
    if published is None:
        return None
    options = []
    for year in (published.year - 1, published.year, published.year + 1):
        try:
            options.append(dt.date(year, month, day))
        except ValueError:
            continue
    return min(options, key=lambda d: abs((d - published).days)) if options else None


_DATE_VALUE = (
    r"(?P<value>\d{4}-\d{2}-\d{2}|"
    + _MONTH.replace("?P<mon>", "?:")
    + r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{2}|\d{1,2}\s+"
    + _MONTH.replace("?P<mon>", "?:")
    + r",?\s+(?:19|20)\d{2})"
)
_PUBLISHED_LINE = re.compile(
    r"(?im)^[ \t]*(?:published|publication date|posted|first published)(?:\s+on)?\s*:?\s*" + _DATE_VALUE
)
_DATELINE = re.compile(
    r"(?m)^[ \t]*[A-Z][A-Z.'\u2019-]+(?:\s[A-Z][A-Z.'\u2019-]+)*(?:,\s[A-Z][A-Za-z.]+)?,\s+"
    + _DATE_VALUE
    + r"\s*(?:\([^)\n]{1,40}\)\s*)?[-\u2013\u2014]"
)


def find_publication(text: str) -> DateMention | None:
    """The article's publication date, when the text states it; None otherwise.

    A ``Published: 2025-10-10`` line (also ``Publication date``, ``Posted``, any date format with a year;
    confidence 0.95), else a news dateline at the start of a line, ``BEIJING, Oct. 10, 2025 (Reuters) -``
    (confidence 0.9). The span is the whole line's lead, the evidence for the date. A dateline without a year
    ("BEIJING, Oct 10 (Reuters) -") is not enough to place the article and gives None.
    """
    for regex, confidence in ((_PUBLISHED_LINE, 0.95), (_DATELINE, 0.9)):
        m = regex.search(text)
        if m is None:
            continue
        (mention,) = find_dates(m.group("value")) or (None,)
        if mention is not None and mention.date is not None:
            return DateMention(mention.date, "day", "absolute", Span(m.start(), m.end(), m.group(0)), confidence)
    return None
