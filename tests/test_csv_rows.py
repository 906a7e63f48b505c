"""The fast CSV writer (:func:`eventstudy.csv_rows.write_csv`) writes pandas' ``to_csv`` bytes exactly: on floats
of every kind (random bit patterns, subnormals, signed zeros, infinities, NaN, powers of ten and their neighbours,
the edges of positional notation), on text that needs quoting, missing values, dates, integers and bools as the
tables hold them, on the kinds it leaves to pandas, in chunks, and on every table of a run."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import eventstudy.csv_rows as rows
from eventstudy import EventStudy
from eventstudy.io import neutralize_formulas, table_bytes
from eventstudy.results import EventStudyResults
from eventstudy.simulate import simulate_study


@pytest.fixture(autouse=True)
def every_frame_on_the_fast_path(monkeypatch):
    """Small frames too take the fast path here (a run writes frames under ``FAST_ROWS`` rows with pandas)."""
    monkeypatch.setattr(rows, "FAST_ROWS", 0)


def _pandas(frame: pd.DataFrame, header: bool = True) -> bytes:
    buffer = io.BytesIO()
    frame.to_csv(buffer, header=header, index=False, date_format="%Y-%m-%d", encoding="utf-8")
    return buffer.getvalue()


def _fast(frame: pd.DataFrame, header: bool = True) -> bytes:
    buffer = io.BytesIO()
    rows.write_csv(frame, buffer, header)
    return buffer.getvalue()


def _same(frame: pd.DataFrame, header: bool = True) -> None:
    expected, got = _pandas(frame, header), _fast(frame, header)
    if got != expected:  # name the first line that differs
        pairs = zip(expected.splitlines(), got.splitlines(), strict=False)
        line, (want, have) = next((i, p) for i, p in enumerate(pairs) if p[0] != p[1])
        pytest.fail(f"line {line}: pandas {want!r}, fast {have!r}")


def _adversarial_floats(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    powers = 10.0 ** np.arange(-330, 309, dtype=np.float64)
    edges = np.array([1e-5, 1e-4, 1e15, 1e16, 1e17, 9.999999999999999e15, 9999999999999998.0, 1.0, 0.1, 5e-324])
    edges = np.concatenate([edges, powers, 2.0 ** np.arange(-1074, 1024)])
    edges = np.concatenate([edges, np.nextafter(edges, np.inf), np.nextafter(edges, 0.0)])
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 2.2250738585072014e-308, 1.7976931348623157e308])
    values = [
        rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64),  # any bit pattern: NaNs, subnormals, huge
        rng.integers(1, 2**52, n // 4, dtype=np.int64).view(np.float64),  # subnormals
        rng.integers(-(10**17), 10**17, n // 4).astype(np.float64),  # integers as floats, some past 2**53
        np.round(rng.normal(size=n // 4) * 1e6, 4) / 10.0 ** rng.integers(0, 12, n // 4),  # short decimals
        rng.normal(size=n // 4) * 10.0 ** rng.integers(-20, 22, n // 4),  # returns, prices, volumes
        edges,
        special,
    ]
    values = np.concatenate(values)
    return np.concatenate([values, -values])


@pytest.mark.parametrize("seed", [0, 1])
def test_floats_are_written_as_pandas_writes_them(seed):
    values = _adversarial_floats(seed, 60_000)
    _same(pd.DataFrame({"x": values, "y": values[::-1]}))


def _mixed(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    texts = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "", "tab\there", " padded ", "ünïcødé €", "\x00nul"]
    texts += ["=1+1", "+x", "-y", "@z", "-1..1", "'quoted", ',"\n', '"', "-2.5"]
    text = [texts[i % len(texts)] for i in range(n)]
    text[3] = None
    dates = pd.to_datetime("2024-02-27") + pd.to_timedelta(rng.integers(-30000, 30000, n), unit="D")
    stamps = pd.Series(dates + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"))
    stamps[2] = pd.NaT
    before_1970 = pd.Series(pd.to_datetime("1969-12-31 12:00") - pd.to_timedelta(np.arange(n), unit="D"))
    info = np.iinfo
    return pd.DataFrame(
        {
            "str": pd.Series(text, dtype="str"),
            "python_str": pd.Series(text, dtype=pd.StringDtype("python")),
            "arrow_str": pd.Series(text, dtype=pd.StringDtype("pyarrow")),
            "object": pd.Series(text, dtype=object).where(np.arange(n) % 7 != 0, np.nan),
            "date": stamps,
            "before_1970": before_1970,
            "day_unit": stamps.to_numpy().astype("datetime64[D]"),
            "int": rng.integers(-(10**12), 10**12, n),
            "int8": np.resize(np.array([info(np.int8).min, info(np.int8).max, 0], dtype=np.int8), n),
            "int64": np.resize(np.array([info(np.int64).min, info(np.int64).max, -1]), n),
            "uint64": np.resize(np.array([info(np.uint64).max, 0], dtype=np.uint64), n),
            "bool": rng.random(n) < 0.5,
            "float": rng.normal(size=n) * 10.0 ** rng.integers(-8, 18, n),
        }
    )


def test_text_dates_integers_and_bools_are_written_as_pandas_writes_them(monkeypatch):
    frame = _mixed()
    assert all(rows._field_maker(frame[c]) is not None for c in frame.columns)  # all taken by the fast path
    _same(frame)
    _same(frame, header=False)
    _same(neutralize_formulas(frame))
    monkeypatch.setattr(rows, "CHUNK_ROWS", 7)  # chunks that end inside the frame
    _same(frame)
    blocks = pd.DataFrame(np.arange(60.0).reshape(20, 3) / 7, columns=["a", "b", "c"])  # columns strided in a block
    _same(blocks.iloc[3:17])
    _same(pd.DataFrame(np.arange(60).reshape(20, 3) % 4).iloc[3:17])  # integers and bools in a block
    _same((pd.DataFrame(np.arange(60).reshape(20, 3)) % 3 == 0).iloc[3:17])
    _same(frame.iloc[5:23])  # a slice of a table, as a source's slices are written


def test_text_of_several_arrow_chunks_is_written_as_pandas_writes_it(monkeypatch):
    """A text column held as several Arrow chunks (the car table's event_id and ticker: one chunk per event window;
    any ``pd.concat``) is taken by the fast path as it is, the rows' slices crossing the chunks' edges."""
    parts = [["a", 'say "hi"', None, "x,y"], ["=1+2", "", "plain"], ["é", "line\nbreak", "z"] * 3]
    text = pd.array(pa.chunked_array([pa.array(p, type=pa.large_string()) for p in parts]), dtype="str")
    frame = pd.DataFrame({"id": text, "n": np.arange(len(text)), "t": text})
    assert rows._field_maker(frame["id"]) is not None
    monkeypatch.setattr(rows, "CHUNK_ROWS", 5)
    _same(frame)
    _same(neutralize_formulas(frame))


def test_single_column_rows_empty_tables_and_odd_headers():
    _same(pd.DataFrame({"only": pd.Series(["", None, "x", ""], dtype="str")}))  # a row of one empty field: ""
    _same(pd.DataFrame({"only": [np.nan, 1.5, np.nan]}))
    _same(_mixed().iloc[:0])
    _same(pd.DataFrame({"a": [1.5, 2.5]}).iloc[:0])
    _same(pd.DataFrame({"a,b": [1], 'say "x"': [2.0], "a": ["z"]}).set_axis(["a,b", 'say "x"', "a"], axis=1))
    _same(pd.DataFrame([[1, 2.5]], columns=["dup", "dup"]))
    _same(pd.DataFrame(index=range(3)))


@pytest.mark.parametrize(
    "column",
    [
        pd.Categorical(["a", "b,c", None, "a"]),
        pd.array([1, None, 3, 4], dtype="Int64"),
        pd.array([1.5, None, 3.0, 4.0], dtype="Float64"),
        pd.array([True, None, False, True], dtype="boolean"),
        np.array([1.5, 2.25, 1e-7, 3e20], dtype=np.float32),
        pd.Series(pd.to_datetime(["2024-01-02"] * 4)).dt.tz_localize("UTC"),
        pd.Series(pd.to_datetime(["0999-01-02", "2024-01-02", "2024-01-03", None], format="ISO8601")),
        pd.Series([1, "a", 2.5, None], dtype=object),
        pd.Series([b"x", b"y", None, b"z"], dtype=object),
        pd.to_timedelta([1, 2, 3, 4], unit="D"),
    ],
    ids=["categorical", "Int64", "Float64", "boolean", "float32", "tz", "year999", "mixed", "bytes", "timedelta"],
)
def test_kinds_left_to_pandas_are_written_by_pandas(column):
    frame = pd.DataFrame({"kind": column, "x": [0.1, 1e-5, 1e16, np.nan]})
    assert rows._field_maker(frame["kind"]) is None
    _same(frame)


def test_python_quotes_what_the_writer_quotes():
    assert set(rows.QUOTED) >= {",", '"', "\n"}  # what Python's csv module quotes with pandas' settings
    frame = pd.DataFrame({"c": [f"x{chr(i)}y" for i in range(128)], "n": range(128)}, dtype=object)
    _same(frame)


def test_every_table_of_a_run_is_written_as_pandas_writes_it(tmp_path):
    sim = simulate_study(n_events=6, n_firms=4, effect=0.01, rho=0.2, same_date=False, seed=11)
    study = EventStudy(sim.events, sim.prices, market=sim.market, calendar="data", placebo_draws=20)
    results = study.fit()
    results.to_dir(tmp_path / "run")
    back = EventStudyResults.from_dir(tmp_path / "run")
    names = [p.stem for p in (tmp_path / "run").glob("*.csv")]
    assert {"ar", "car", "parameters", "aar", "tests", "alignment", "events", "prices", "placebo"} <= set(names)
    for name in names:
        frame = getattr(results, name)
        written = (tmp_path / "run" / f"{name}.csv").read_bytes()
        assert written == _pandas(neutralize_formulas(frame)) == table_bytes(frame), name
        assert len(getattr(back, name)) == len(frame), name
