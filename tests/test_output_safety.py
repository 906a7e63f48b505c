"""Issue 11, data loss: ``--out`` never deletes what the toolkit did not write; failures leave nothing behind."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from eventstudy.cli import main

EVENTS = "event_id,date,time,timezone\nE09,2025-10-09,09:00,Asia/Shanghai\n"


@pytest.fixture
def study(tmp_path: Path, prices_dir: Path):
    """A small MP-vs-SPY run; returns a function taking the --out value and extra flags."""
    prices = tmp_path / "prices"
    prices.mkdir()
    for ticker in ("MP", "SPY"):
        shutil.copy(prices_dir / f"{ticker}.csv", prices)
    events = tmp_path / "events.csv"
    events.write_text(EVENTS)

    def run(out: str | Path, *extra: str):
        args = ["run", "--events", str(events), "--tickers", "MP", "--market", "SPY", "--window", "-1", "1"]
        return CliRunner().invoke(main, [*args, "--prices", str(prices), "--out", str(out), *extra])

    run.prices = prices
    return run


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if ".tmp" in p.name or ".old-" in p.name]


def _one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_out_folder_with_user_files_is_refused_then_force_writes_beside_them(study, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("two years of work")
    _one_line_error(study(mine), str(mine), "thesis.docx", "--force")
    assert [p.name for p in mine.iterdir()] == ["thesis.docx"]
    result = study(mine, "--force")
    assert result.exit_code == 0, result.output
    assert (mine / "thesis.docx").read_text() == "two years of work" and (mine / "car.csv").is_file()
    assert _leftovers(tmp_path) == []


def test_out_seeds_folder_is_refused(study, tmp_path, repo_root):
    seeds = tmp_path / "seeds"
    shutil.copytree(repo_root / "seeds", seeds)
    before = sorted(p.name for p in seeds.iterdir())
    _one_line_error(study(seeds), "not an eventstudy run")
    assert sorted(p.name for p in seeds.iterdir()) == before


def test_out_set_to_the_prices_folder_is_refused_even_with_force(study):
    before = sorted(p.name for p in study.prices.iterdir())
    for extra in ((), ("--force",)):
        _one_line_error(study(study.prices, *extra), "holds the input")
    assert sorted(p.name for p in study.prices.iterdir()) == before


@pytest.mark.parametrize("out", [".", ".."])
def test_out_dot_and_dotdot_are_refused_without_a_trace(study, tmp_path, monkeypatch, out):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    monkeypatch.chdir(work)
    _one_line_error(study(out), f"--out {out}")
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in work.iterdir()) == ["notes.txt"]


def test_rerun_replaces_only_its_own_files(study, tmp_path):
    out = tmp_path / "run"
    assert study(out, "--report").exit_code == 0
    (out / "notes.txt").write_text("mine")
    result = study(out)
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "report.html").exists()  # the previous run's report no longer matches its tables
    assert _leftovers(tmp_path) == []


def test_full_disk_during_a_run_exits_2_and_leaves_the_previous_run(study, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert study(out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    _one_line_error(study(out), "No space left on device", str(out))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    _one_line_error(study(tmp_path / "new"), "No space left on device")
    assert not (tmp_path / "new").exists() and _leftovers(tmp_path) == []


def test_read_only_folder_exits_2_without_a_trace(study, tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("tempfile.mkdtemp", denied)
    _one_line_error(study(tmp_path / "ro" / "run"), "Permission denied", "permissions")
    assert _leftovers(tmp_path) == []


def test_report_on_a_full_disk_exits_2_and_leaves_no_temporary_file(study, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert study(out).exit_code == 0

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.fsync", full)
    result = CliRunner().invoke(main, ["report", str(out), "--format", "html"])
    _one_line_error(result, "report.html", "No space left on device")
    assert not (out / "report.html").exists() and _leftovers(tmp_path) == []


def test_report_files_get_ordinary_permissions(study, tmp_path):
    out = tmp_path / "run"
    assert study(out).exit_code == 0
    assert CliRunner().invoke(main, ["report", str(out), "--format", "html"]).exit_code == 0
    assert (out / "report.html").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------------------ reading a run back
def _two_events(tmp_path: Path, study_events: str) -> Path:
    path = tmp_path / "ids.csv"
    path.write_text(study_events)
    return path


def test_report_reads_event_ids_as_text(tmp_path, prices_dir):
    events = _two_events(tmp_path, "event_id,date,label\n007,2025-10-09,first\n7,2025-04-04,second\n")
    out = tmp_path / "run"
    args = ["run", "--events", str(events), "--tickers", "MP", "--market", "SPY", "--window", "0", "1"]
    assert CliRunner().invoke(main, [*args, "--prices", str(prices_dir), "--out", str(out)]).exit_code == 0
    result = CliRunner().invoke(main, ["report", str(out), "--format", "md"])
    assert result.exit_code == 0, result.output
    from eventstudy.results import EventStudyResults

    back = EventStudyResults.from_dir(out)
    assert set(back.car["event_id"]) == {"007", "7"} and set(back.tests["group"]) == {"all", "007", "7"}
    assert "| 007 |" in (out / "report.md").read_text()


def test_text_that_a_spreadsheet_would_run_is_neutralised(tmp_path, prices_dir):
    events = _two_events(
        tmp_path,
        'event_id,date,label\n@E1,2025-10-09,"=HYPERLINK(""http://x"",""click"")"\n-E2,2025-04-04,+1+1\n',
    )
    out = tmp_path / "run"
    args = ["run", "--events", str(events), "--tickers", "MP", "--market", "SPY", "--window", "-1", "1"]
    assert CliRunner().invoke(main, [*args, "--prices", str(prices_dir), "--out", str(out)]).exit_code == 0
    for file in out.glob("*.csv"):
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
        for col in frame.columns:
            risky = frame[col][frame[col].str.match(r"[=+@\t\r]|-[^0-9]")]
            assert risky.empty, (file.name, col, list(risky))
    text = (out / "events.csv").read_text()
    assert "'=HYPERLINK" in text and "'@E1" in text and "'-E2" in text and "'+1+1" in text
    assert "-1..1" in (out / "car.csv").read_text()  # window labels and numbers are not text formulas
    from eventstudy.results import EventStudyResults

    back = EventStudyResults.from_dir(out)
    assert set(back.car["event_id"]) == {"@E1", "-E2"}


@pytest.mark.parametrize(
    ("name", "damage", "needle"),
    [
        ("run.json", "{not json", "run.json is damaged"),
        ("run.json", "[1, 2]", "run.json is damaged"),
        ("ar.csv", "\x00\x01garbage\n\x02", "ar.csv is damaged"),
        ("ar.csv", 'event_id,ticker,day,ar\nE09,MP,"0\n', "ar.csv is damaged"),
        ("car.csv", "event_id,ticker,window,car\nE09,MP,0..1,abc\n", "car 'abc' is not a number"),
    ],
)
def test_report_on_a_damaged_run_exits_2_in_one_line(study, tmp_path, name, damage, needle):
    out = tmp_path / "run"
    assert study(out).exit_code == 0
    (out / name).write_text(damage)
    _one_line_error(CliRunner().invoke(main, ["report", str(out)]), needle, "rerun")


def test_formulas_are_neutralised_cell_by_cell_and_the_frame_given_is_left_alone(tmp_path):
    from eventstudy.io import _neutral, neutralize_formulas, table_bytes, write_table

    frame = pd.DataFrame(
        {
            "text": pd.Series(["=1+1", "-1..1", "ok", None, "@x", "-2.5", "=1+1", "\tz"], dtype="str"),
            "mixed": pd.Series(["+x", 3, None, "a", "-y", 1.5, "\rz", "=1"], dtype=object),
            "n": range(8),
        }
    )
    before = frame.copy()
    out = neutralize_formulas(frame)
    pd.testing.assert_frame_equal(frame, before)
    for col in ("text", "mixed"):
        assert out[col].tolist() == [v if v is None or v != v else _neutral(v) for v in frame[col].tolist()]
    assert out["text"].tolist()[:3] == ["'=1+1", "-1..1", "ok"] and out["mixed"][0] == "'+x"
    text = frame.drop(columns="mixed")
    for fmt in ("csv", "parquet"):  # written straight into the file: the bytes of table_bytes
        assert write_table(text, tmp_path / "t", fmt).read_bytes() == table_bytes(text, fmt)
    assert write_table(frame, tmp_path / "t").read_text().splitlines()[1] == "'=1+1,'+x,0"
