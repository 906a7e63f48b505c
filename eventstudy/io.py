"""Writing outputs safely: a file appears complete or not at all, and an output folder never loses what the toolkit
did not write there.

An output folder is a *run directory* once it holds ``run.json``; ``.eventstudy-outputs`` beside it lists the files
the toolkit wrote there (one relative path a line), so a rerun replaces exactly those and removes the ones it no
longer writes. Every failure to write (permissions, full disk, a file where a folder should be) becomes an
:class:`~eventstudy.errors.OutputError` with one line naming the path, and leaves no temporary file behind. Every
tidy table becomes its file's bytes (CSV or Parquet) through :func:`table_bytes`.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pandas as pd

from eventstudy.errors import EventStudyError, InputError, OutputError
from eventstudy.table_source import TableSource

RUN_MARKER = "run.json"
MANIFEST = ".eventstudy-outputs"
_TMP_PREFIX = ".eventstudy-"
T = TypeVar("T")


def _ordinary(path: Path, directory: bool = False) -> None:
    """Give a file (0666) or folder (0777) the permissions the user's umask gives new files, as ``open`` would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if directory else 0o666) & ~umask)


def write_failure(path: Path, exc: OSError) -> OutputError:
    """One-line :class:`OutputError` for an ``OSError`` met while writing ``path``."""
    reason = exc.strerror or str(exc)
    hint = {
        errno.ENOSPC: "free some space or write elsewhere",
        errno.EDQUOT: "free some space or write elsewhere",
        errno.EACCES: "check the folder's permissions or write elsewhere",
        errno.EPERM: "check the folder's permissions or write elsewhere",
        errno.EROFS: "the file system is read-only: write elsewhere",
        errno.ENOTDIR: "a file stands where a folder is needed: choose another path",
    }.get(exc.errno or 0, "check the path, its permissions and the free space")
    return OutputError(f"cannot write {path}: {reason}: {hint}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder (flushed to disk), then rename it.

    The file gets ordinary permissions (0666 less the umask). On any failure the temporary file is removed, an
    existing ``path`` is left as it was, and an ``OSError`` is raised as :class:`OutputError`.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _ordinary(Path(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        raise write_failure(path, exc) from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def check_output_folder(
    path: str | os.PathLike,
    force: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
    marker: str = RUN_MARKER,
) -> Path:
    """Refuse an output folder that would put the user's files at risk; return its resolved path.

    Refused: a path that is a file; a folder that holds an input (a ``--prices`` folder, the folder of an events
    file); a non-empty folder that is not the toolkit's (no ``marker`` file, ``run.json`` for a run), unless
    ``force``.
    """
    given = Path(path)
    out = given.resolve()
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {given} is a file, not a folder: choose a folder name")
    for source in inputs:
        src = Path(source).resolve()
        if src == out or (src.parent == out and src.is_file()):
            raise OutputError(
                f"--out {given} holds the input {source}: write the results to a folder of their own (e.g. runs/NAME)"
            )
    if out.is_dir() and not force and not (out / marker).is_file():
        try:
            entries = sorted(p.name for p in out.iterdir())
        except OSError as exc:
            raise write_failure(out, exc) from exc
        if entries:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise OutputError(
                f"--out {given} already holds files that are not an eventstudy run ({shown}): choose a new folder, "
                "or pass --force to write the run's files beside them (nothing else is touched)"
            )
    return out


@contextmanager
def atomic_directory(
    path: str | os.PathLike,
    force: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
    marker: str = RUN_MARKER,
) -> Iterator[Path]:
    """Yield a temporary folder whose files are published into ``path`` when the block finishes without error.

    ``path`` is checked first with :func:`check_output_folder`. A new ``path`` appears whole (one rename). Into an
    existing folder each file is renamed into place, the ``marker`` file (``run.json``) last, and the files a
    previous run wrote there but this one did not are removed; nothing else in the folder is touched. On an
    exception the temporary folder is removed and ``path`` is left as it was; an ``OSError`` is raised as
    :class:`OutputError`.
    """
    out = check_output_folder(path, force, inputs, marker)
    given = Path(path)
    exists = out.is_dir()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, suffix=".tmp", dir=out if exists else out.parent))
        _ordinary(tmp, directory=True)
    except OSError as exc:
        raise write_failure(given, exc) from exc
    try:
        yield tmp
        written = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        (tmp / MANIFEST).write_text("".join(f"{name}\n" for name in written))
        if exists:
            _publish(tmp, out, written, marker)
        else:
            os.replace(tmp, out)
    except OSError as exc:
        raise write_failure(given, exc) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, out: Path, written: list[str], marker: str) -> None:
    """Rename the files of ``tmp`` into the existing folder ``out`` (``marker`` last); drop a previous run's rest."""
    previous = read_manifest(out)
    for name in sorted(written, key=lambda n: n == marker):
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / name, target)
    for name in sorted(set(previous) - set(written)):
        stale = out / name
        if stale.is_file():
            stale.unlink()
            if stale.parent != out and not any(stale.parent.iterdir()):
                stale.parent.rmdir()
    os.replace(tmp / MANIFEST, out / MANIFEST)


def read_manifest(folder: Path) -> list[str]:
    """The files the toolkit wrote into ``folder`` (empty when it has no manifest)."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return []
    names = [line.strip() for line in manifest.read_text().splitlines() if line.strip()]
    return [n for n in names if not Path(n).is_absolute() and ".." not in Path(n).parts]


def record_outputs(folder: str | os.PathLike, paths: Iterable[str | os.PathLike]) -> None:
    """Add ``paths`` (files written into ``folder``) to its manifest, so a later run may replace them."""
    folder = Path(folder)
    names = dict.fromkeys(read_manifest(folder))
    names.update(dict.fromkeys(str(Path(p).resolve().relative_to(folder.resolve())) for p in paths))
    atomic_write_text(folder / MANIFEST, "".join(f"{name}\n" for name in names))


def add_to_run(folder: str | os.PathLike, files: dict[str, bytes], replaces: Iterable[str] = ()) -> list[Path]:
    """Add ``files`` (name: bytes) to an existing output folder, each atomically, and list them in its manifest.

    The toolkit's earlier files named in ``replaces`` (e.g. ``robustness.csv`` when ``robustness.parquet`` is written)
    are removed; nothing else in the folder is touched. A later run into the folder replaces or removes them all.
    """
    folder = Path(folder)
    written = [atomic_write_bytes(folder / name, data) for name, data in files.items()]
    owned = read_manifest(folder)
    dropped = {n for n in replaces if n in owned and n not in files}
    for name in dropped:
        (folder / name).unlink(missing_ok=True)
    names = [n for n in owned if n not in dropped] + [n for n in files if n not in owned]
    atomic_write_text(folder / MANIFEST, "".join(f"{name}\n" for name in names))
    return written


# ------------------------------------------------------------------------------------------ reading user CSVs
def read_csv_text(
    path: Path, error: type[EventStudyError] = InputError, skip_initial_space: bool = False
) -> pd.DataFrame:
    """A user's CSV file as a frame of text cells (no value turned into a number or NaN), checked for shape.

    Raises ``error`` with one line naming the file for: a missing file, an empty file, a file separated by
    semicolons or tabs, a row with more fields than the header (named by its line), an undecodable file.
    """
    if not path.is_file():
        raise error(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path, dtype=str, keep_default_na=False, index_col=False, skipinitialspace=skip_initial_space
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise error(_shape_problem(path) or f"{path}: not a readable CSV ({_last_line(exc)})") from exc
    except pd.errors.EmptyDataError as exc:
        raise error(f"{path}: the file is empty (expected a header line and rows)") from exc
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a UTF-8 text file ({exc.reason}): save it as CSV UTF-8") from exc
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    problem = _shape_problem(path) if len(frame.columns) == 1 else None
    if problem:
        raise error(problem)
    if frame.empty:
        raise error(f"{path}: no rows below the header")
    return frame


def _last_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def _shape_problem(path: Path) -> str | None:
    """What is wrong with the file's shape: another separator, or the first row with more fields than the header."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        rows = csv.reader(handle)
        header = next(rows, [])
        for sep, name in ((";", "semicolons"), ("\t", "tabs")):
            if len(header) == 1 and sep in header[0]:
                return (
                    f"{path}: the columns are separated by {name} (header {header[0]!r}): save it comma-separated "
                    "(in a spreadsheet: CSV UTF-8, comma-delimited)"
                )
        for row in rows:
            if len(row) > len(header):
                return (
                    f"{path}: line {rows.line_num} has {len(row)} fields but the header has {len(header)} "
                    f"({', '.join(header)}): remove the extra field, or quote a value that contains a comma"
                )
    return None


# ------------------------------------------------------------------------------------------ spreadsheet safety
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_HARMLESS = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|-?\d+\.\.-?\d+")  # a number, a window a..b


def neutralize_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells a spreadsheet would evaluate start with a single quote.

    The OWASP rule for CSV injection: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return is prefixed with ``'``, so Excel, LibreOffice and Google Sheets show it as text instead of running it.
    Plain numbers and window labels (``-1..1``) are left alone. :func:`restore_formulas` undoes it on reading.
    """
    out = frame.copy(deep=False)  # copy-on-write: the frame given is never changed
    for col in out.columns:
        values = out[col]
        if isinstance(values.dtype, pd.StringDtype):  # only the cells starting with a formula character, each
            risky = values.str.startswith(FORMULA_START).to_numpy(bool, na_value=False)  # distinct text once (a label
            if risky.any():  # such as a window -1..1 repeats on every row of its window)
                cells = values[risky]
                out.loc[risky, col] = cells.map({text: _neutral(text) for text in cells.unique()})
        elif values.dtype == object:
            out[col] = values.map(_neutral)
    return out


def _neutral(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _HARMLESS.fullmatch(value):
        return "'" + value
    return value


def restore_formulas(values: pd.Series) -> pd.Series:
    """Undo :func:`neutralize_formulas` on a text column read back from a CSV the toolkit wrote."""
    text = values.astype(str)
    quoted = text.str.startswith("'") & text.str[1:2].isin(list(FORMULA_START))
    return values.where(~quoted, text.str[1:])


FORMATS = ("csv", "parquet")
ROW_GROUP_ROWS = 1 << 20  # rows per Parquet row group (pyarrow's default) and per slice of a table given as a source


def table_bytes(frame: pd.DataFrame, fmt: str = "csv") -> bytes:
    """One tidy table as the bytes of a ``.csv`` (dates ``YYYY-MM-DD``; text a spreadsheet would run as a formula
    neutralised, :func:`eventstudy.io.neutralize_formulas`) or ``.parquet`` file; every table goes here or to
    :func:`write_table`, which writes the same bytes."""
    buffer = io.BytesIO()
    _encode([frame], fmt, buffer)
    return buffer.getvalue()


def write_table(table: pd.DataFrame | TableSource, stem: Path, fmt: str = "csv") -> Path:
    """Write one tidy table (the bytes of :func:`table_bytes`) to ``stem`` + ``.csv`` or ``.parquet``, encoded
    straight into the file (no copy of the whole file in memory); return its path.

    ``table`` is a frame or a :class:`~eventstudy.table_source.TableSource`: a source is written slice by slice
    (``ROW_GROUP_ROWS`` rows at a time: CSV rows appended, one Parquet row group each), so the whole frame is
    never built; the file's bytes are those of its whole frame's. A source's next slice is built (and made ready
    to encode) on a thread of its own while the current one is encoded (:func:`read_ahead`).
    """
    target = Path(f"{stem}.{fmt}")
    if isinstance(table, pd.DataFrame):
        _encode([table], fmt, target)
    else:
        _encode(table.slices(ROW_GROUP_ROWS), fmt, target, ahead=True)
    return target


def _encode(frames: Iterable[pd.DataFrame], fmt: str, sink: io.BytesIO | Path, ahead: bool = False) -> None:
    """Encode the rows of ``frames`` (consecutive parts of one table, at least one) into ``sink``: CSV with the
    header once (:func:`eventstudy.csv_rows.write_csv`: pandas' ``to_csv`` bytes, built a column at a time), or
    Parquet (:func:`_write_parquet`). ``ahead``: each part is built and prepared (neutralised, or made an Arrow
    table) on a thread of its own while the one before it is encoded (:func:`read_ahead`)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown table format {fmt!r}: use csv or parquet")
    prepare = _arrow_table if fmt == "parquet" else neutralize_formulas
    parts = map(prepare, frames)
    with contextlib.closing(read_ahead(parts)) if ahead else contextlib.nullcontext(parts) as parts:
        if fmt == "parquet":
            _write_parquet(parts, str(sink) if isinstance(sink, Path) else sink)
            return
        from eventstudy.csv_rows import write_csv  # numba and Arrow: loaded when a CSV is written

        with open(sink, "wb") if isinstance(sink, Path) else contextlib.nullcontext(sink) as handle:
            for i, frame in enumerate(parts):
                write_csv(frame, handle, header=i == 0)


_END = object()


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """The items of ``items`` in order, each next one computed on a thread of its own while the caller works on the
    current one (one item ahead: at most two held). An error raised computing an item is raised where it is
    yielded; a caller that stops early waits for the item under way, and no further one is computed."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="eventstudy-read-ahead") as pool:
        pending = pool.submit(next, items, _END)
        while (item := pending.result()) is not _END:
            pending = pool.submit(next, items, _END)
            yield item


def _arrow_table(frame: pd.DataFrame):
    """``frame`` as the Arrow table written to Parquet (pandas' schema metadata, no index)."""
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


def _write_parquet(tables: Iterable, where: str | io.BytesIO) -> None:
    """One Parquet file of the Arrow ``tables``' rows (:func:`_arrow_table`): a row group per ``ROW_GROUP_ROWS``
    rows of each table, text columns dictionary-encoded, numbers not (no dictionary attempt: a third faster)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for table in tables:
            if writer is None:
                text = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
                writer = pq.ParquetWriter(where, table.schema, use_dictionary=text or False)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
    finally:
        if writer is not None:
            writer.close()
