"""Issue 11: an article's dateline or ``Published:`` line is its publication date, and the event date is the date
of the reported action, through ``eventstudy events extract``."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy.cli import main
from eventstudy.events.extract import extract_events

DATELINE = (
    "China widens rare earth controls\n\n"
    "BEIJING, Oct. 10, 2025 (Reuters) — China's commerce ministry on Thursday announced export controls on five "
    "more rare earth elements. Shares of MP Materials (NYSE: MP) jumped in New York.\n"
)
PUBLISHED = (
    "China widens rare earth controls\nPublished: 2025-10-10\n\n"
    "MOFCOM said on Thursday it would add holmium and erbium to its control list; MP Materials (NYSE: MP) rose.\n"
)
NO_ACTION_DATE = "China widens rare earth controls\nPublished: 2025-10-10\n\nMP Materials (NYSE: MP) rose sharply.\n"


@pytest.mark.parametrize(("text", "lead"), [(DATELINE, "BEIJING, Oct. 10, 2025"), (PUBLISHED, "Published: 2025-10-10")])
def test_dateline_or_published_line_is_the_publication_and_the_action_day_the_event(tmp_path, text, lead):
    article = tmp_path / "article.txt"
    article.write_text(text)
    out = tmp_path / "proposed.csv"
    result = CliRunner().invoke(main, ["events", "extract", str(article), "--out", str(out)])  # no --published
    assert result.exit_code == 0, result.output
    assert "published:   2025-10-10" in result.output and "event date:  2025-10-09 (action" in result.output
    row = pd.read_csv(out, dtype=str).iloc[0]
    assert (row["ticker"], row["date"]) == ("MP", "2025-10-09")  # Thursday before Friday's publication
    assert lead in row["evidence"] and "'on Thursday'" in row["evidence"]
    assert float(row["confidence"]) >= 0.5
    event = extract_events(text)
    assert event.published == dt.date(2025, 10, 10) and event.publication.span.matched.startswith(lead)
    assert text[event.proposed_date.span.start : event.proposed_date.span.end] == "on Thursday"
    assert all(
        d.span.start >= event.publication.span.end or d.span.end <= event.publication.span.start for d in event.dates
    )


def test_without_an_action_date_the_publication_date_is_a_weak_fallback_with_its_evidence(tmp_path):
    event = extract_events(NO_ACTION_DATE)
    proposed = event.proposed_date
    assert (proposed.date, proposed.basis, proposed.confidence) == (dt.date(2025, 10, 10), "published", 0.3)
    assert proposed.span.matched == "Published: 2025-10-10"


def test_an_explicit_published_date_still_wins_and_the_dateline_is_never_the_event(tmp_path):
    event = extract_events(DATELINE, published="2025-10-16")  # the next Thursday
    assert event.published == dt.date(2025, 10, 16) and event.proposed_date.date == dt.date(2025, 10, 16)
    assert event.proposed_date.span.matched == "on Thursday"
