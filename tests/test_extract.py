"""Article extraction: tickers of the seed articles, no tickers from ordinary words, spans, dates, direction, CLI."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy.errors import InputError
from eventstudy.events.aliases import ALIAS_TYPES, load_aliases
from eventstudy.events.extract import EVENT_COLUMNS, extract_events, find_dates, find_direction

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
ARTICLES = sorted(SEEDS.glob("*.txt"))

# The exact ticker set per seed article (export_controls.md mapping); an extra false positive fails.
EXPECTED = {
    "000_731229d5f8524b38.txt": {"MP", "USAR", "CRML", "UUUU", "NAK", "TMQ", "LAC", "TMC"},
    "001_9ba09b359c7ee769.txt": {"ARS.CN"},
    "002_9d64106f5cc828b2.txt": {"600111.SS", "000831.SZ", "600259.SS"},
    "003_17afad91cbb2f24b.txt": {"301150.SZ", "SOLB.BR", "ASML", "NVDA", "7201.T", "GM", "F", "STLA"},
    "004_d02d29da8d1bbeb2.txt": {"MP", "USAR"},
}


def _extract(name: str, published: str | None = None):
    return extract_events((SEEDS / name).read_text(encoding="utf-8"), published=published, source=name)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_seed_article_tickers_are_exactly_the_expected_set(name):
    found = {t.ticker for t in _extract(name).tickers if t.ticker}
    assert found == EXPECTED[name]


def test_expected_sets_agree_with_the_seed_mapping_table():
    articles = pd.read_csv(SEEDS / "articles.csv", dtype=str, keep_default_na=False)
    mapped = articles[articles["ticker"] != ""].groupby("article")["ticker"].apply(set).to_dict()
    assert mapped == EXPECTED
    assert sorted(EXPECTED) == [p.name for p in ARTICLES]


def test_seed_000_names_and_confidence():
    result = _extract("000_731229d5f8524b38.txt")
    by_ticker = {t.ticker: t for t in result.tickers}
    assert by_ticker["MP"].span.matched == "MP Materials Corp."
    assert by_ticker["CRML"].span.matched == "Critical Metals Corp."
    assert by_ticker["TMC"].span.matched == "TMC The Metals Company"
    assert all(t.confidence >= 0.9 for t in result.tickers)


def test_unverified_tickers_get_lower_confidence():
    low = {t.ticker: t.confidence for t in _extract("001_9ba09b359c7ee769.txt").tickers}
    assert low["ARS.CN"] < 0.7
    inst = {t.ticker: t.confidence for t in _extract("003_17afad91cbb2f24b.txt").tickers}
    assert inst["301150.SZ"] < 0.7 and inst["NVDA"] > 0.9


def test_former_name_maps_to_the_current_ticker():
    result = _extract("002_9d64106f5cc828b2.txt")
    minmetals = next(t for t in result.tickers if t.ticker == "000831.SZ")
    assert minmetals.span.matched == "China Minmetals Rare Earth"
    assert minmetals.mentions[0].alias_type == "former_name"


def test_private_company_is_named_without_a_ticker():
    result = _extract("003_17afad91cbb2f24b.txt")
    assert any(t.company == "Impossible Metals" and t.ticker == "" for t in result.tickers)
    assert "Impossible Metals" not in set(result.to_frame("x")["ticker"])


@pytest.mark.parametrize(
    "sentence",
    [
        "The compact MP3 player sat beside a tin of black lac.",
        "The MP shares his concerns with the minister.",
        "the EU said it would respond; the EU shares that view",
        "Exports to the USA rose, the USA said.",
        "The IDR currency fell against the dollar; IDR 15,000.",
        "Reactors burn LEU; ALB is Albania's code; TMC said nothing; NB: see below.",
        "Critical metals are scarce and energy fuels growth in lithium americas.",
        "Nasdaq fell 2% as the NYSE opened; MP, LAC and EU were discussed.",
        "Order No. 600111,600 in 1,600,111 units.",
        "In the US, Co. and In. are abbreviations; Li and Mo met Y and W.",
        "The Arafura sea was rough; Perpetua means eternal.",
    ],
)
def test_ordinary_words_never_become_tickers(sentence):
    result = extract_events(sentence)
    assert [(c.ticker, c.span.matched) for c in result.companies if c.alias_type != "ambiguous_name"] == []
    assert all(len(e.span.matched) > 2 for e in result.elements)  # element names yes, symbols no


@pytest.mark.parametrize(
    ("sentence", "ticker", "matched"),
    [
        ("Its shares (NYSE: MP) jumped.", "MP", "(NYSE: MP)"),
        ("Traders piled into $MP today.", "MP", "$MP"),
        ("Shares of MP rose 5%.", "MP", "Shares of MP"),
        ("USA Rare Earth (NASDAQ:USAR) rallied.", "USAR", "USA Rare Earth"),
        ("listed as NASDAQ:USAR since March", "USAR", "NASDAQ:USAR"),
        ("Energy Fuels (NYSE American: UUUU) rose.", "UUUU", "Energy Fuels"),
        ("LAC shares doubled.", "LAC", "LAC shares"),
        ("北方稀土(SH600111)涨停", "600111.SS", "北方稀土"),
        ("SH600111 closed limit-up", "600111.SS", "SH600111"),
        ("600259.SS and JL Mag moved", "600259.SS", "600259.SS"),
        ("enCore Energy Corp. (NASDAQ: EU) said", "EU", "enCore Energy Corp."),
        ("Lynas Rare Earths and Iluka rose in Sydney", "LYC.AX", "Lynas Rare Earths"),
        ("Centrus Energy (NYSE American: LEU)", "LEU", "Centrus Energy"),
    ],
)
def test_tickers_written_as_tickers_are_found(sentence, ticker, matched):
    mentions = [c for c in extract_events(sentence).companies if c.ticker == ticker]
    assert mentions and mentions[0].span.matched == matched


def test_all_caps_headline_and_longest_alias_wins():
    result = extract_events("MP MATERIALS SOARS; Lithium Americas Corp. and Lithium Americas")
    assert [(c.ticker, c.span.matched) for c in result.companies] == [
        ("MP", "MP MATERIALS"),
        ("LAC", "Lithium Americas Corp."),
        ("LAC", "Lithium Americas"),
    ]
    lac = next(t for t in result.tickers if t.ticker == "LAC")
    assert len(lac.mentions) == 2 and lac.confidence == 0.99
    assert not result.elements  # "Lithium" inside a company name is not the element


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: p.name)
def test_every_span_is_the_text_it_claims(path):
    text = path.read_text(encoding="utf-8")
    result = extract_events(text, published="2025-10-10")
    spans = [
        *(c.span for c in result.companies),
        *(e.span for e in result.elements),
        *(i.span for i in result.instruments),
        *(d.span for d in result.dates),
        *(c.span for c in result.direction.cues),
    ]
    assert spans
    for span in spans:
        assert text[span.start : span.end] == span.matched
    fields = [*result.companies, *result.elements, *result.instruments, *result.dates, *result.tickers]
    assert all(0.0 <= f.confidence <= 1.0 for f in fields)


def test_elements_names_and_symbols_in_context():
    assert {e.element for e in _extract("002_9d64106f5cc828b2.txt").elements} == {
        "neodymium",
        "praseodymium",
        "dysprosium",
    }
    assert {e.element for e in _extract("001_9ba09b359c7ee769.txt").elements} == {"neodymium", "yttrium", "europium"}
    text = "No. 57 adds Ho, Er, Tm, Eu, Yb; NdFeB magnets and Dy oxide. The EU and US said Er, well."
    result = extract_events(text)
    assert [e.symbol for e in result.elements] == ["Ho", "Er", "Tm", "Eu", "Yb", "Nd", "Dy"]
    assert all(e.rare_earth for e in result.elements)
    assert [e.symbol for e in extract_events("Ga and Ge; Nd/Pr oxide").elements] == ["Ga", "Ge", "Nd", "Pr"]


def test_instruments_are_normalised():
    text = (
        "MOFCOM Announcement No. 61 of 2025 and MOFCOM & GAC Announcements Nos. 55-58 of 2025 extend the "
        "Export Control Law; Announcement [2025] No. 62 covers technology; firms on the unreliable entity list."
    )
    names = [i.instrument for i in extract_events(text).instruments]
    assert names == [
        "MOFCOM Announcement No. 61 of 2025",
        "MOFCOM & GAC Announcements Nos. 55-58 of 2025",
        "Export Control Law",
        "Announcement No. 62 of 2025",
        "Unreliable Entity List",
    ]


def test_absolute_dates():
    text = "On October 9, 2025 (2025-10-09, 9 October 2025, 2025年10月9日) it said rules start Dec. 1."
    found = find_dates(text, dt.date(2025, 10, 10))
    assert [(d.span.matched, d.date) for d in found] == [
        ("October 9, 2025", dt.date(2025, 10, 9)),
        ("2025-10-09", dt.date(2025, 10, 9)),
        ("9 October 2025", dt.date(2025, 10, 9)),
        ("2025年10月9日", dt.date(2025, 10, 9)),
        ("Dec. 1", dt.date(2025, 12, 1)),
    ]
    assert find_dates("on February 30, 2025") == ()


def test_relative_dates_resolve_against_publication():
    published = dt.date(2025, 10, 10)  # a Friday
    text = "It said on Thursday, after talks last week and yesterday; last Friday and earlier this month, in May."
    got = {d.span.matched: (d.date, d.precision, d.kind) for d in find_dates(text, published)}
    assert got == {
        "on Thursday": (dt.date(2025, 10, 9), "day", "relative"),
        "last week": (dt.date(2025, 9, 29), "week", "relative"),
        "yesterday": (dt.date(2025, 10, 9), "day", "relative"),
        "last Friday": (dt.date(2025, 10, 3), "day", "relative"),
        "earlier this month": (dt.date(2025, 10, 1), "month", "relative"),
        "in May": (dt.date(2025, 5, 1), "month", "relative"),
    }
    assert all(d.date is None for d in find_dates(text))


def test_year_less_date_takes_the_nearest_year():
    (mention,) = find_dates("announced Dec. 30", dt.date(2026, 1, 5))
    assert mention.date == dt.date(2025, 12, 30)


def test_proposed_date_is_the_first_day_not_after_publication():
    text = "Effective December 1, 2025. On October 9, 2025, MOFCOM issued No. 61."
    result = extract_events(text, published="2025-10-10")
    assert result.proposed_date.date == dt.date(2025, 10, 9)
    assert result.proposed_date.span.matched == "October 9, 2025"
    fallback = extract_events("MP Materials rose.", published="2025-10-10").proposed_date
    assert (fallback.date, fallback.basis, fallback.span) == (dt.date(2025, 10, 10), "published", None)
    assert extract_events("MP Materials rose.").proposed_date is None


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("000_731229d5f8524b38.txt", "tightening"),
        ("001_9ba09b359c7ee769.txt", "tightening"),
        ("002_9d64106f5cc828b2.txt", "tightening"),
        ("003_17afad91cbb2f24b.txt", "easing"),
        ("004_d02d29da8d1bbeb2.txt", "tightening"),
    ],
)
def test_direction_of_the_seeds(name, label):
    direction = _extract(name).direction
    assert direction.label == label
    assert (direction.score > 0) == (label == "tightening")
    assert 0 < direction.confidence <= abs(direction.score)


def test_direction_negation_and_neutral_text():
    assert find_direction("Beijing suspended the controls and approved export licences.").label == "easing"
    plain = find_direction("The export licences were granted.")
    negated = find_direction("The export licences were not granted.")
    assert plain.label == "easing" and negated.label == "tightening"
    assert negated.cues[0].weight == -0.5 * plain.cues[0].weight
    assert find_direction("Rare earths are used in magnets.").label == "unclear"


def test_to_frame_is_in_the_events_format_the_engine_reads(tmp_path):
    from eventstudy.events.catalog import read_events

    frame = _extract("000_731229d5f8524b38.txt", published="2025-10-09").to_frame("A000")
    assert list(frame.columns) == EVENT_COLUMNS
    assert set(frame["ticker"]) == EXPECTED["000_731229d5f8524b38.txt"]
    assert set(frame["date"]) == {"2025-10-09"} and set(frame["kind"]) == {"tightening"}
    path = tmp_path / "events.csv"
    frame.to_csv(path, index=False)
    assert len(read_events(path)) == 8


def test_alias_table_is_well_formed_and_covers_the_seed_companies():
    aliases = load_aliases()
    assert len(aliases) > 500
    assert {a.alias_type for a in aliases} <= set(ALIAS_TYPES)
    assert all(a.alias.isupper() for a in aliases if a.alias_type == "ticker")
    tickers = {a.ticker for a in aliases}
    for ticker in ["LYC.AX", "ILU.AX", "ARU.AX", "ASM.AX", "NTU.AX", "VHM.AX", "UCU.V", "NEO.TO", "REEMF",
                   "ARR.AX", "METC", "NB", "PPTA", "UAMY", "IDR", "LEU", "ALB", "300748.SZ", "600366.SS",
                   "000970.SZ", "600549.SS", "600392.SS", "SOLB.BR", "REMX"]:  # fmt: skip
        assert ticker in tickers
    unverified = {a.ticker for a in aliases if not a.ticker_verified}
    assert {"ARS.CN", "301150.SZ"} <= unverified
    assert all(a.note for a in aliases if not a.ticker_verified)


def test_alias_table_errors_name_the_line(tmp_path):
    bad = tmp_path / "aliases.csv"
    bad.write_text(
        "ticker,company,alias,exchange,country,alias_type,ticker_verified,note\nMP,MP,MP,NYSE,US,nickname,yes,\n"
    )
    with pytest.raises(InputError, match="line 2: alias_type 'nickname'"):
        load_aliases(bad)
    with pytest.raises(InputError, match="cannot read"):
        load_aliases(tmp_path / "missing.csv")


# --- CLI -------------------------------------------------------------------------------------------------


@pytest.fixture()
def cli():
    from eventstudy.cli import main

    runner = CliRunner()
    return lambda *args: runner.invoke(main, ["events", *map(str, args)])


def test_cli_extract_prints_every_article_and_writes_events(cli, tmp_path):
    out = tmp_path / "proposed.csv"
    res = cli("extract", *ARTICLES, "--published", "2025-10-09", "--out", out)
    assert res.exit_code == 0, res.output
    for path in ARTICLES:
        assert f"== {path}" in res.output
    assert re.search(r"MP Materials Corp\.\s+MP\s+0\.95\s+1\s+\[675:693\] 'MP Materials Corp\.'", res.output)
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == EVENT_COLUMNS
    assert set(frame["ticker"]) == set().union(*EXPECTED.values())
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_errors_exit_2_with_one_line(cli, tmp_path):
    missing = cli("extract", tmp_path / "nope.txt")
    assert missing.exit_code == 2
    assert missing.output.strip().splitlines() == [f"error: {tmp_path / 'nope.txt'}: no such file"]
    out = tmp_path / "x.csv"
    no_date = cli("extract", ARTICLES[0], "--out", out)
    assert no_date.exit_code == 2 and "--published" in no_date.output.splitlines()[-1]
    assert not out.exists()
    assert cli("extract", ARTICLES[0], "--published", "10/9/2025").exit_code == 2
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    assert cli("extract", binary).exit_code == 2


def test_cli_list_catalog(cli):
    res = cli("list", "--catalog", SEEDS / "events.csv", "--kind", "easing")
    assert res.exit_code == 0, res.output
    ids = [line.split()[0] for line in res.output.strip().splitlines()[1:]]
    assert ids == ["E08a", "E08b", "E08c", "E10a", "E10", "E11", "E12", "E13"]
    assert cli("list", "--catalog", "missing.csv").exit_code == 2
