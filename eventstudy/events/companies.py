"""Companies named in an article, mapped to tickers through the alias table (names as written; bare symbols
only where the text writes them as tickers)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from eventstudy.events.aliases import Alias
from eventstudy.events.mentions import (
    CompanyMention,
    Span,
    TickerProposal,
)

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


def group_companies(mentions: tuple[CompanyMention, ...]) -> tuple[TickerProposal, ...]:
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
