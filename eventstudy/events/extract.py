"""Propose events from article text: companies and tickers, elements, instruments, dates and direction.

:func:`extract_events` reads one article and returns an :class:`ExtractedEvent`. Nothing is decided silently:
every proposed field carries the :class:`Span` of text that supports it (``text[span.start:span.end] ==
span.text``) and a confidence in [0, 1], so a researcher can audit each proposal before it enters a study.

Companies are found through the alias table (:mod:`eventstudy.aliases`). Names are matched as written (case
matters, word boundaries on both sides), so ordinary words never become tickers: a bare short symbol such as
"MP", "LAC" or "EU" counts only where the text writes it as a ticker ("(NYSE: MP)", "$MP", "shares of MP");
"compact MP3", "black lac", "the EU said" or "IDR 15,000" propose nothing.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import pandas as pd

from eventstudy.aliases import Alias, load_aliases


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
    tickers: tuple[TickerProposal, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tickers", _group_companies(self.companies))

    @property
    def proposed_date(self) -> ProposedDate | None:
        """First day-precision date in the text not after publication; else the publication date; else None.

        A news lead usually states the event's date first; later dates tend to be effective dates or
        background. The publication date is a weak fallback (confidence 0.3).
        """
        for mention in self.dates:
            if mention.precision != "day" or mention.date is None:
                continue
            if self.published is not None and mention.date > self.published:
                continue
            return ProposedDate(mention.date, "mention", round(0.8 * mention.confidence, 2), mention.span)
        if self.published is not None:
            return ProposedDate(self.published, "published", 0.3, None)
        return None

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
            if proposed is not None:
                where = f" {proposed.span}" if proposed.span else " (publication date)"
                evidence.append(f"date {proposed.date.isoformat()}{where}")
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
        and years missing from absolute ones ("Oct. 9").
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
        dates=find_dates(text, published),
        direction=find_direction(text),
    )


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


# --- companies -------------------------------------------------------------------------------------------

_BASE_CONFIDENCE = {
    "listed_ticker": 0.99,
    "name": 0.95,
    "local_name": 0.9,
    "short_name": 0.85,
    "former_name": 0.8,
    "code": 0.75,
    "ambiguous_name": 0.55,
    "brand": 0.45,
    "person": 0.45,
}
_UNVERIFIED_FACTOR = 0.6
_EXCHANGE_PREFIX = (
    r"(?:NYSE(?:\s+American|\s+Arca|\s+MKT)?|NYSEAMERICAN|NYSEARCA|AMEX|NASDAQ|Nasdaq(?:GS|GM|CM)?|"
    r"OTC(?:QX|QB)?|TSXV?|TSX-V|ASX|CSE)"
)
# (pattern around the symbol {s}, confidence, minimum symbol length): where a bare symbol is written as a ticker.
_TICKER_CONTEXTS = (
    (r"\(\s*" + _EXCHANGE_PREFIX + r"\s*:\s*{s}\s*\)", 0.97, 1),
    (r"(?<![\w$])" + _EXCHANGE_PREFIX + r"\s*:\s*{s}(?![\w.])", 0.95, 1),
    (r"(?<![\w$])(?:[Ss]hares|[Ss]tock|[Tt]icker|[Ss]ymbol)\s+(?:of\s+)?{s}(?!\w)", 0.8, 2),
    (r"(?<![\w$]){s}\s+(?:shares|stock)(?!\w)", 0.7, 3),
)
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class _Matcher:
    alias: Alias
    pattern: re.Pattern[str]
    confidence: float


def find_companies(text: str, aliases: Iterable[Alias]) -> tuple[CompanyMention, ...]:
    """All company mentions, longest match first where candidates overlap, in text order."""
    candidates: list[tuple[int, int, float, Alias]] = []
    for matcher in _matchers(tuple(aliases)):
        for m in matcher.pattern.finditer(text):
            candidates.append((m.start(), m.end(), matcher.confidence, matcher.alias))
    candidates.sort(key=lambda c: (-(c[1] - c[0]), -c[2], c[0]))
    taken: list[tuple[int, int]] = []
    kept = []
    for start, end, conf, alias in candidates:
        if any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        kept.append(
            CompanyMention(
                ticker=alias.ticker,
                company=alias.company,
                exchange=alias.exchange,
                alias=alias.alias,
                alias_type=alias.alias_type,
                span=Span(start, end, text[start:end]),
                confidence=conf,
            )
        )
    return tuple(sorted(kept, key=lambda m: m.span.start))


@lru_cache(maxsize=4)
def _matchers(aliases: tuple[Alias, ...]) -> tuple[_Matcher, ...]:
    out: list[_Matcher] = []
    seen: set[tuple[str, str]] = set()
    for alias in aliases:
        factor = 1.0 if alias.ticker_verified else _UNVERIFIED_FACTOR
        if alias.alias_type == "ticker":
            symbol = re.escape(alias.alias)
            for context, conf, min_len in _TICKER_CONTEXTS:
                if len(alias.alias) >= min_len:
                    pattern = context.replace("{s}", symbol)
                    out.append(_Matcher(alias, re.compile(pattern), round(conf * factor, 2)))
            continue
        conf = round(_BASE_CONFIDENCE[alias.alias_type] * factor, 2)
        spellings = [alias.alias]
        if len(alias.alias.split()) > 1 and alias.alias.upper() != alias.alias:
            spellings.append(alias.alias.upper())  # all-caps headlines
        for spelling in spellings:
            pattern = _alias_pattern(spelling, alias.alias_type)
            if (alias.ticker, pattern) in seen:
                continue
            seen.add((alias.ticker, pattern))
            out.append(_Matcher(alias, re.compile(pattern), conf))
    return tuple(out)


def _alias_pattern(alias: str, alias_type: str) -> str:
    """Regex for an alias: flexible whitespace (and around ':'), word boundaries unless the alias is CJK."""
    body = "".join(r"\s+" if ch == " " else r"\s*:\s*" if ch == ":" else re.escape(ch) for ch in alias)
    body = body.replace(r"\s*:\s*\s+", r"\s*:\s*")
    if _CJK.search(alias):
        return body
    if alias_type == "code":  # a six-digit code, not part of a number such as 1,600,111 or 3.600111
        return r"(?<![\w.,])" + body + r"(?![\w]|[.,]\d)"
    left = r"(?<![\w$])" if alias[0].isalnum() else ""
    right = r"(?![\w])" if alias[-1].isalnum() else ""
    return left + body + right


def _group_companies(mentions: tuple[CompanyMention, ...]) -> tuple[TickerProposal, ...]:
    groups: dict[tuple[str, str], list[CompanyMention]] = {}
    for mention in mentions:
        key = (mention.ticker, mention.company if not mention.ticker else "")
        groups.setdefault(key, []).append(mention)
    out = []
    for members in groups.values():
        miss = math.prod(1.0 - m.confidence for m in members)
        out.append(
            TickerProposal(
                ticker=members[0].ticker,
                company=members[0].company,
                exchange=members[0].exchange,
                confidence=round(min(0.99, 1.0 - miss), 2),
                mentions=tuple(members),
            )
        )
    return tuple(out)


# --- elements --------------------------------------------------------------------------------------------

# (name, symbol, rare earth?): the 17 rare-earth elements and the other metals China's controls name.
ELEMENTS = (
    ("scandium", "Sc", True),
    ("yttrium", "Y", True),
    ("lanthanum", "La", True),
    ("cerium", "Ce", True),
    ("praseodymium", "Pr", True),
    ("neodymium", "Nd", True),
    ("promethium", "Pm", True),
    ("samarium", "Sm", True),
    ("europium", "Eu", True),
    ("gadolinium", "Gd", True),
    ("terbium", "Tb", True),
    ("dysprosium", "Dy", True),
    ("holmium", "Ho", True),
    ("erbium", "Er", True),
    ("thulium", "Tm", True),
    ("ytterbium", "Yb", True),
    ("lutetium", "Lu", True),
    ("gallium", "Ga", False),
    ("germanium", "Ge", False),
    ("antimony", "Sb", False),
    ("tungsten", "W", False),
    ("tellurium", "Te", False),
    ("bismuth", "Bi", False),
    ("molybdenum", "Mo", False),
    ("indium", "In", False),
    ("lithium", "Li", False),
    ("cobalt", "Co", False),
)
_BY_SYMBOL = {sym: (name, ree) for name, sym, ree in ELEMENTS}
_BY_NAME = {name: (sym, ree) for name, sym, ree in ELEMENTS}
_NAME_RE = re.compile(r"(?<!\w)(" + "|".join(_BY_NAME) + r")(?!\w)", re.IGNORECASE)
_SYM = "|".join(sorted(_BY_SYMBOL, key=len, reverse=True))
# A run of at least two symbols ("Sm, Gd, Tb, Dy", "Nd/Pr", "Ga and Ge"): a list of symbols is unmistakable.
_SYM_LIST_RE = re.compile(rf"(?<![\w-])(?:{_SYM})(?:\s*(?:,|/|&|\band\b)\s*(?:and\s+)?(?:{_SYM}))+(?![\w-])")
_SYM_ONE_RE = re.compile(rf"(?:{_SYM})")
# Symbols that are also words, names or abbreviations: a list of only two of them needs a slash ("Nd/Pr").
_WORDLIKE_SYMBOLS = {"Y", "W", "In", "Co", "Li", "Mo", "La", "Ce", "Pr", "Er", "Ho", "Te", "Bi", "Sc"}
# A symbol before a material word ("Dy oxide", "Nd metal"), or a magnet formula ("NdFeB", "SmCo", "NdPr").
_SYM_MATERIAL_RE = re.compile(rf"(?<![\w-])({_SYM})(?=\s+(?:oxides?|metals?|magnets?|alloys?|concentrate)\b)")
_FORMULA_RE = re.compile(r"(?<!\w)(?:(Nd)-?Fe-?B|(Sm)-?Co|(Nd)-?(Pr)|(Sm)Co5)(?!\w)")


def find_elements(text: str) -> tuple[ElementMention, ...]:
    """Element names anywhere; symbols only in a list of symbols, before a material word, or in a formula.

    A list of two symbols that can also be ordinary words ("Li and Mo") counts only when slash-joined.
    """
    out: list[ElementMention] = []
    for m in _NAME_RE.finditer(text):
        name = m.group(1).lower()
        sym, ree = _BY_NAME[name]
        out.append(ElementMention(name, sym, ree, Span(m.start(1), m.end(1), m.group(1)), 0.95))
    for m in _SYM_LIST_RE.finditer(text):
        # the alternation may match a prefix of a longer symbol; keep whole tokens only
        symbols = [
            s
            for s in _SYM_ONE_RE.finditer(m.group(0))
            if not (m.start() + s.end() < len(text) and text[m.start() + s.end()].isalpha())
        ]
        pair_of_words = len(symbols) == 2 and "/" not in m.group(0)
        if pair_of_words and any(s.group(0) in _WORDLIKE_SYMBOLS for s in symbols):
            continue  # "Li and Mo said": two surnames, not lithium and molybdenum
        for s in symbols:
            start, end = m.start() + s.start(), m.start() + s.end()
            name, ree = _BY_SYMBOL[s.group(0)]
            out.append(ElementMention(name, s.group(0), ree, Span(start, end, text[start:end]), 0.85))
    for m in _SYM_MATERIAL_RE.finditer(text):
        name, ree = _BY_SYMBOL[m.group(1)]
        out.append(ElementMention(name, m.group(1), ree, Span(m.start(1), m.end(1), m.group(1)), 0.75))
    for m in _FORMULA_RE.finditer(text):
        for i in range(1, 6):
            if m.group(i):
                name, ree = _BY_SYMBOL[m.group(i)]
                out.append(ElementMention(name, m.group(i), ree, Span(m.start(i), m.end(i), m.group(i)), 0.9))
    unique = {(e.span.start, e.span.end): e for e in out}
    return tuple(sorted(unique.values(), key=lambda e: e.span.start))


# --- instruments -----------------------------------------------------------------------------------------

_ISSUER = (
    r"(?:(?P<issuer>MOFCOM|Ministry of Commerce|Commerce Ministry)"
    r"(?:\s*(?:&|and)\s*(?:the\s+)?(?P<co>GAC|General Administration of Customs|MOST|"
    r"Ministry of Science and Technology))?\s+)?"
)
_NUMBERS = r"(?P<nums>\d{1,3}(?:\s*(?:,|&|and|-|–|to)\s*\d{1,3})*)"
_ANNOUNCEMENT_RE = re.compile(
    r"(?<!\w)"
    + _ISSUER
    + r"(?:Announcements?|Ann\.)\s+(?:\[(?P<y1>\d{4})\]\s*)?(?:No\.|Nos\.|Number|Numbers)\s*"
    + _NUMBERS
    + r"(?:\s*(?:of\s+|,\s*|\[|\()(?P<y2>\d{4})[\])]?)?"
)
_BARE_NUMBER_RE = re.compile(r"(?<!\w)(?:No\.|Nos\.)\s*" + _NUMBERS + r"\s+of\s+(?P<y2>20\d{2})(?!\d)")
_NAMED_INSTRUMENTS = (
    (r"Export Control Law", "Export Control Law", 0.9),
    (
        r"(?:Regulations? on (?:the )?Export Control of Dual-Use Items|Dual-Use Items? Export Control Regulations?)",
        "Regulations on the Export Control of Dual-Use Items",
        0.9,
    ),
    (r"[Uu]nreliable[- ][Ee]ntity [Ll]ist", "Unreliable Entity List", 0.9),
    (r"[Ee]xport[- ][Cc]ontrol [Ll]ist|control list", "export control list", 0.6),
    (
        r"Catalogue? of Technologies Prohibited (?:and|or|/) Restricted from Export",
        "Catalogue of Technologies Prohibited and Restricted from Export",
        0.9,
    ),
    (r"general (?:export )?licen[cs]es?", "general licence", 0.7),
    (r"export licen[cs]es?|export permits?", "export licence", 0.5),
)
_NAMED_RE = tuple((re.compile(r"(?<!\w)" + p + r"(?!\w)"), name, c) for p, name, c in _NAMED_INSTRUMENTS)


def find_instruments(text: str) -> tuple[InstrumentMention, ...]:
    """Numbered announcements (normalised to "<issuer> Announcement No. N of YYYY") and named instruments."""
    out: list[InstrumentMention] = []
    taken: list[tuple[int, int]] = []
    for regex, conf in ((_ANNOUNCEMENT_RE, 0.95), (_BARE_NUMBER_RE, 0.6)):
        for m in regex.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            groups = m.groupdict()
            issuer = " & ".join(x for x in (groups.get("issuer"), groups.get("co")) if x)
            year = groups.get("y1") or groups.get("y2")
            numbers = re.sub(r"\s+", " ", m.group("nums"))
            label = "Announcements Nos. " if re.search(r"[,&–-]|and|to", numbers) else "Announcement No. "
            name = (issuer + " " if issuer else "") + label + numbers + (f" of {year}" if year else "")
            out.append(InstrumentMention(name, Span(m.start(), m.end(), m.group(0)), conf if year else conf * 0.8))
    for regex, name, conf in _NAMED_RE:
        for m in regex.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            out.append(InstrumentMention(name, Span(m.start(), m.end(), m.group(0)), conf))
    return tuple(sorted(out, key=lambda i: i.span.start))


# --- dates -----------------------------------------------------------------------------------------------

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


# --- direction -------------------------------------------------------------------------------------------

# (pattern, weight): positive = tightening, negative = easing. Nouns that only name the topic ("restrictions",
# "export controls", "curbs") are not cues: both kinds of article use them. Verbs of action weigh most.
_CUES = (
    (r"tighten(?:s|ed|ing)?", 1.0),
    (r"tighter", 0.5),
    (r"(?:adds?|added|adding)\b[^.]{0,60}?\bcontrol list", 1.0),
    (r"expand(?:s|ed|ing)?\b[^.]{0,40}?\b(?:restrictions|controls|curbs)", 1.0),
    (r"(?:imposes?|imposed|imposing)\b[^.]{0,40}?\b(?:restrictions|controls|curbs|bans?|licen[cs]ing)", 1.0),
    (r"ban(?:s|ned|ning)?", 0.8),
    (r"clamp(?:down| down)|crack(?:down| down)|clampdown|crackdown", 1.0),
    (r"stricter", 0.8),
    (r"intensif(?:y|ies|ied|ying)", 0.8),
    (r"remains? firm|maintain(?:s|ed|ing)? (?:its |strategic )?controls", 0.6),
    (r"escalat(?:e|es|ed|ing|ion)", 0.5),
    (r"(?:adds?|added|adding|new|more|further|fresh)\s+(?:export\s+)?(?:restrictions|controls|curbs)", 1.0),
    (r"restrict(?:s|ed|ing)?", 0.5),
    (r"eas(?:e|es|ed|ing)", -1.0),
    (r"relax(?:es|ed|ing|ation)?", -1.0),
    (
        r"(?:approv(?:e|es|ed|ing|al|als)|grant(?:s|ed|ing)?|issu(?:e|es|ed|ing)|sanction(?:s|ed))\b[^.]{0,60}?"
        r"\b(?:licen[cs]es?|permits?)",
        -1.0,
    ),
    (r"licen[cs]es?\b[^.]{0,30}?\b(?:approved|granted|issued)", -1.0),
    (r"suspend(?:s|ed|ing)?|suspension", -1.0),
    (r"lift(?:s|ed|ing)?\b[^.]{0,40}?\b(?:ban|controls?|restrictions|curbs)", -1.0),
    (r"general licen[cs]es?", -1.0),
    (r"defer(?:s|red|ring|ral)?", -0.8),
    (r"allow(?:s|ed|ing)?\b[^.]{0,60}?\bto flow", -0.8),
    (r"truce|reprieve", -0.6),
    (r"resum(?:e|es|ed|ption)", -0.6),
)
_CUE_RE = tuple((re.compile(r"(?<!\w)(?:" + p + r")(?!\w)", re.IGNORECASE), w) for p, w in _CUES)
_NEGATION_RE = re.compile(r"(?<!\w)(?:not|n't|never|no longer|without)(?!\w)", re.IGNORECASE)


def find_direction(text: str) -> Direction:
    """Score tightening vs easing from cue phrases; see :class:`Direction` for the formula.

    A cue with a negation inside it or in the 20 characters before it ("licenses were not granted") counts
    for the other side at half weight. Overlapping cues: the longer one wins.
    """
    title_start, title_end = _title_span(text)
    found: list[tuple[int, int, float]] = []
    for regex, weight in _CUE_RE:
        for m in regex.finditer(text):
            found.append((m.start(), m.end(), weight))
    found.sort(key=lambda c: (-(c[1] - c[0]), c[0]))
    cues: list[DirectionCue] = []
    for start, end, weight in found:
        if any(start < c.span.end and c.span.start < end for c in cues):
            continue
        if _NEGATION_RE.search(text[max(0, start - 20) : end]):
            weight = -0.5 * weight
        if title_start <= start and end <= title_end:
            weight *= 2
        else:  # inverted pyramid: the lead says what the article is about, the tail adds background
            weight *= 1.5 - start / max(len(text), 1)
        cues.append(DirectionCue("tightening" if weight > 0 else "easing", weight, Span(start, end, text[start:end])))
    cues.sort(key=lambda c: c.span.start)
    tight = sum(c.weight for c in cues if c.weight > 0)
    ease = -sum(c.weight for c in cues if c.weight < 0)
    total = tight + ease
    score = (tight - ease) / total if total else 0.0
    label = "tightening" if score >= 0.2 else "easing" if score <= -0.2 else "unclear"
    confidence = abs(score) * (1.0 - math.exp(-total / 3.0))
    return Direction(label, round(score, 3), round(confidence, 3), tuple(cues))


def _title_span(text: str) -> tuple[int, int]:
    """Start and end of the first line of three words or more (skips "Logo"-style debris); (0, 0) if none."""
    for m in re.finditer(r"[^\n]+", text):
        if len(m.group(0).split()) >= 3:
            return m.start(), m.end()
    return 0, 0


def _title(text: str) -> str:
    """The title line (see :func:`_title_span`), cut to 120 characters."""
    start, end = _title_span(text)
    line = text[start:end].strip()
    return line if len(line) <= 120 else line[:119].rstrip() + "…"
