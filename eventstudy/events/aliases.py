"""The company alias table shipped with the package: names, former names and ticker spellings per ticker.

``eventstudy/events/data/aliases.csv`` has one row per alias: ``ticker, company, alias, exchange, country, alias_type,
ticker_verified, note``. ``alias_type`` says how much an alias proves on its own and how it may be matched:

==================  =====================================================================================
``name``            full or legal company name ("MP Materials Corp."), matched as written
``short_name``      one-word proper name ("Lynas", "Albemarle"), matched as written
``former_name``     a name the company used before ("DeepGreen Metals", "Midas Gold")
``local_name``      Chinese characters or pinyin ("北方稀土", "Beifang Xitu")
``ambiguous_name``  a name that is also an ordinary word or another thing ("Ford", "GM", "Critical Metals")
``brand``           a product brand of the listed parent ("Jeep")
``person``          a person who names the company only indirectly (its CEO)
``listed_ticker``   an exchange-qualified symbol that cannot be an ordinary word ("NYSE: MP", "$MP",
                    "600111.SS", "SH600111")
``code``            a bare six-digit mainland-China stock code ("600111")
``ticker``          a bare symbol ("MP", "LAC", "EU"): counts only where the text writes it as a ticker
==================  =====================================================================================

``ticker_verified`` is ``no`` where the symbol could not be confirmed (the note says why); an empty ``ticker``
is a named company without a listing (private).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from eventstudy.errors import InputError

ALIAS_TYPES = (
    "name",
    "short_name",
    "former_name",
    "local_name",
    "ambiguous_name",
    "brand",
    "person",
    "listed_ticker",
    "code",
    "ticker",
)
COLUMNS = ("ticker", "company", "alias", "exchange", "country", "alias_type", "ticker_verified", "note")


@dataclass(frozen=True)
class Alias:
    """One way a text can name a listed (or private) company."""

    ticker: str
    company: str
    alias: str
    exchange: str
    country: str
    alias_type: str
    ticker_verified: bool
    note: str


def load_aliases(path: str | Path | None = None) -> tuple[Alias, ...]:
    """Read an alias table (default: the one shipped in ``eventstudy/events/data/aliases.csv``).

    Raises
    ------
    InputError
        If the file cannot be read, lacks a column, has an unknown ``alias_type`` or an empty alias.
    """
    if path is None:
        return _packaged()
    return _read(Path(path))


@lru_cache(maxsize=1)
def _packaged() -> tuple[Alias, ...]:
    return _read(Path(__file__).with_name("data") / "aliases.csv")


def _read(path: Path) -> tuple[Alias, ...]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the alias table ({exc})") from exc
    if not rows or set(COLUMNS) - set(rows[0]):
        missing = sorted(set(COLUMNS) - set(rows[0])) if rows else list(COLUMNS)
        raise InputError(f"{path}: an alias table needs the columns {', '.join(COLUMNS)}; missing {missing}")
    out = []
    for line, row in enumerate(rows, start=2):
        if row["alias_type"] not in ALIAS_TYPES:
            raise InputError(
                f"{path}: line {line}: alias_type {row['alias_type']!r} is not one of {', '.join(ALIAS_TYPES)}"
            )
        if not row["alias"].strip():
            raise InputError(f"{path}: line {line}: empty alias")
        out.append(
            Alias(
                ticker=row["ticker"].strip(),
                company=row["company"].strip(),
                alias=row["alias"].strip(),
                exchange=row["exchange"].strip(),
                country=row["country"].strip(),
                alias_type=row["alias_type"],
                ticker_verified=row["ticker_verified"].strip().lower() != "no",
                note=row["note"].strip(),
            )
        )
    return tuple(out)
