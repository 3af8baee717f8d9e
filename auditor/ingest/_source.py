"""Put a user's file (or DataFrame) in front of DuckDB as a relation with a ``_row`` column, without a pandas frame.

Parquet is a view over ``read_parquet(file_row_number=true)``; CSV/TSV are read by DuckDB's CSV reader (all
columns as text, the header parsed and checked here) into a temporary table whose insertion order is the file's
(DuckDB's CSV reader cannot number rows; reading the file again at every pass costs as much as the copy);
JSON Lines / JSON, and any file DuckDB's reader refuses, go through :func:`~auditor.ingest._read.read_table`, whose
errors name the line and the fix, and the frame is handed to DuckDB as Arrow. Rows are numbered as in
:mod:`auditor.ingest._read` (data rows from 1; JSON Lines by line).
"""

from __future__ import annotations

import collections
import hashlib
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import IngestError
from ._read import RawTable, _csv_records, check_file, file_sha256, read_table, short_list

__all__ = ["Source", "open_source", "quote_ident"]

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def edge_whitespace(q: str) -> str:
    """SQL that is true when text ``q`` starts or ends in whitespace or a control character (or is empty): the
    cells worth trimming. ``q < '!'`` tests the first byte, several times cheaper than taking the first character
    (UTF-8 lead bytes of other characters are above '!'); the last character has no such shortcut."""
    return f"({q} < '!' OR {q}[-1] <= ' ')"


def quote_ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@dataclass
class Source:
    """A relation ``name`` in ``con`` with the file's columns (``types``: column -> DuckDB type) and ``_row``."""

    path: str
    name: str
    where: str                   # "row" or "line"
    sha256: str | None
    types: dict[str, str]
    n_rows: int
    notes: list[str] = field(default_factory=list)
    nonscalar: set[str] = field(default_factory=set)   # columns with a "__nonscalar__<col>" flag column
    delimiters_seen: list[str] = field(default_factory=list)   # a one-column header's other delimiters
    # text columns no cell of which starts or ends in whitespace or a control character: reading them needs no
    # trim (a CSV's cells arrive as flat strings, on which the trim test costs ~0.1 s per column per 3M rows).
    # ``assumed``: the clean columns nobody has looked at yet (a CSV's, at first). A load either shows them clean
    # more cheaply (the signals load: see _light.TAKEN_CLEAN) or calls measure().
    clean: frozenset[str] = frozenset()
    assumed: frozenset[str] = frozenset()
    _drop: list[str] = field(default_factory=list)
    _stat: tuple | None = None        # (size, mtime) of the file when it was opened, see unchanged()

    def close(self, con) -> None:
        for stmt in self._drop:
            try:
                if stmt.startswith("unregister "):
                    con.unregister(stmt.split(" ", 1)[1])
                else:
                    con.execute(stmt)
            except duckdb.Error:
                pass
        self._drop.clear()

    def measure(self, con, columns=None) -> bool:
        """Test every cell of the ``assumed`` columns among ``columns`` (all of them by default) for edge whitespace;
        True when one of them is not clean after all."""
        cols = [c for c in self.types if c in self.assumed and (columns is None or c in columns)]
        if not cols:
            return False
        edge = [f"coalesce(bool_or({edge_whitespace(q)}), false)" for q in map(quote_ident, cols)]
        flags = con.execute(f"SELECT {', '.join(edge)} FROM {self.name}").fetchall()[0]
        dirty = {c for c, d in zip(cols, flags) if d}
        self.clean, self.assumed = self.clean - dirty, self.assumed - set(cols)
        return bool(dirty)

    def shown_clean(self, columns) -> None:
        """``columns`` were shown clean by a test of their distinct values."""
        self.assumed = self.assumed - set(columns)

    def unchanged(self) -> None:
        """Raise :class:`IngestError` when the file was written to since it was opened (a Parquet view reads it
        again at every pass: the passes must see one file, the one whose sha256 the batch records)."""
        if self._stat is not None and _stat(Path(self.path)) != self._stat:
            raise IngestError(self.path, "the file changed while it was being loaded", fix="load it again once "
                              "whatever writes it has finished; nothing was loaded.")


def open_source(con, source, source_name: str | None = None) -> Source:
    """Make ``source`` (a path or a DataFrame) readable in ``con``. Raises :class:`IngestError` for a bad file."""
    if isinstance(source, pd.DataFrame):
        df = source.copy()
        df["_row"] = range(1, len(df) + 1)
        return _from_frame(con, RawTable(source_name or "<DataFrame>", df, "row", None))
    p, spath = Path(source), str(source)
    fmt = check_file(p, spath)
    if fmt == "parquet":
        return _parquet(con, p, spath)
    if fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        src = _delimited(con, p, spath, _scan(p), sep)
        if src is not None:
            return src
        src = _from_frame(con, read_table(p))
        if len(src.types) == 1:
            head = next(iter(src.types))
            src.delimiters_seen = [DELIMITERS[d] for d in DELIMITERS if d != sep and d in head]
        return src
    return _from_frame(con, read_table(p))


def one_column_hint(src: Source, names: list, known: set[str]) -> str | None:
    """What to tell the user whose header was read as one column: the delimiters we read that it holds, or the
    character that splits it into column names we know (``known``), e.g. a colon, which no reader here takes."""
    if len(names) != 1 or not isinstance(names[0], str):
        return None
    if src.delimiters_seen:
        return (f"the header is one column holding {' and '.join(d + 's' for d in src.delimiters_seen)}: write the "
                f"file with one delimiter")
    head = names[0]
    for ch, _ in collections.Counter(c for c in head if not (c.isalnum() or c in "_\"'")).most_common():
        if len(known & {part.strip().strip('"') for part in head.split(ch)}) >= 2:
            what = "spaces" if ch == " " else f"{ch!r} ({unicodedata.name(ch, f'U+{ord(ch):04X}').lower()})"
            return (f"the header is one column, its names separated by {what}, which is not a delimiter auditor "
                    f"reads: write the file with commas (or semicolons, tabs or pipes)")
    return None


def _stat(p: Path) -> tuple | None:
    try:
        st = p.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _parquet(con, p: Path, spath: str) -> Source:
    lit = _literal(str(p))
    stat = _stat(p)
    try:
        desc = con.execute(f"DESCRIBE SELECT * FROM read_parquet({lit}, file_row_number=true)").fetchall()
        n = con.execute(f"SELECT count(*) FROM read_parquet({lit})").fetchall()[0][0]
    except duckdb.Error as e:
        msg = str(e).splitlines()[0][:200]
        raise IngestError(spath, f"not a readable Parquet file ({msg})",
                          fix="write it again with pandas/pyarrow `to_parquet`, or use CSV.") from None
    sha = file_sha256(p)
    if n == 0:
        raise IngestError(spath, "the file has a header but no data rows", fix="add data rows; nothing was loaded.")
    # pandas writes its index as "__index_level_0__"; pyarrow's reader drops it, and so do we
    types = {r[0]: r[1] for r in desc if r[0] not in ("file_row_number", "_row")
             and not r[0].startswith("__index_level_")}
    name = "_src_" + uuid.uuid4().hex[:10]
    cols = ", ".join(quote_ident(c) for c in types)
    con.execute(f"CREATE TEMP VIEW {name} AS SELECT {cols}, file_row_number + 1 AS _row "
                f"FROM read_parquet({lit}, file_row_number=true)")
    return Source(spath, name, "row", sha, types, n, _drop=[f"DROP VIEW IF EXISTS {name}"], _stat=stat)


def _header(text: str, sep: str) -> list[str] | None:
    recs = _csv_records(text, sep)
    return [c.strip() for c in recs[0]] if recs else None


@dataclass
class _Scan:
    sha256: str
    head: bytes              # the first line (without a UTF-8 byte-order mark), or b"" when there is no newline
    plain: bool              # no UTF-16 byte-order mark and no NUL byte anywhere
    stat: tuple | None       # (size, mtime) before the pass


def _scan(p: Path, chunk: int = 1 << 22) -> _Scan:
    """One streaming pass: the file's sha256, its first line, and whether DuckDB's reader may read it."""
    h, start, head, plain, first_block, stat = hashlib.sha256(), b"", None, True, True, _stat(p)
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
            if first_block:
                plain, first_block = not block.startswith((b"\xff\xfe", b"\xfe\xff")), False
            plain = plain and b"\x00" not in block
            if head is None and len(start) < (1 << 24):       # a header line longer than 16 MB: the Python reader
                start += block
                data = start[3:] if start.startswith(b"\xef\xbb\xbf") else start
                i = data.find(b"\n")
                if i >= 0:
                    head = data[:i]
    return _Scan(h.hexdigest(), head or b"", plain, stat)


def _delimited(con, p: Path, spath: str, scan: _Scan, sep: str) -> Source | None:
    """DuckDB's CSV reader for a plain UTF-8 file; None to let the Python reader say what is wrong (or read it)."""
    sha, stat = scan.sha256, scan.stat
    if not scan.plain or not scan.head:
        return None
    first = scan.head.rstrip(b"\r")
    try:
        line = first.decode("utf-8")
    except UnicodeDecodeError:
        return None
    notes = []
    names = _header(line, sep)
    if names is not None and len(names) == 1:
        seen = [d for d in DELIMITERS if d != sep and d in line]
        if len(seen) == 1:
            other = seen[0]
            notes.append(f"the header has no {DELIMITERS[sep]} but {DELIMITERS[other]}s: read as "
                         f"{DELIMITERS[other]}-separated")
            sep, names = other, _header(line, other)
    # one column (blank lines are rows there) or an odd header: the Python reader decides (and words the fault);
    # it reads commas and tabs only, so a header read with a sniffed delimiter is judged here
    if names is None or len(names) < 2 or len(set(names)) != len(names) or "" in names:
        if not notes:
            return None
        dup = sorted({c for c in names or [] if names.count(c) > 1})
        if dup:
            raise IngestError(spath, f"the header repeats column(s) {short_list(dup)}", row=1, where="line",
                              field=dup[0][:60], fix="give every column a unique name.")
        raise IngestError(spath, f"the {DELIMITERS[sep]}-separated header names an empty or a single column",
                          row=1, where="line", fix="name every column in the header line, with one delimiter.")
    name = "_src_" + uuid.uuid4().hex[:10]
    cols = "{" + ", ".join(f"{_literal(c)}: 'VARCHAR'" for c in names) + "}"
    reader = (f"SELECT * FROM read_csv({_literal(str(p))}, header=true, delim={_literal(sep)}, quote='\"', "
              f"escape='\"', columns={cols}, auto_detect=false, strict_mode=true, null_padding=false, parallel=true)")
    try:
        n, = con.execute(f"CREATE TEMP TABLE {name}_t AS {reader}").fetchall()[0]
    except duckdb.Error:
        con.execute(f"DROP TABLE IF EXISTS {name}_t")
        if notes:   # a sniffed delimiter the reader refused: say which
            raise IngestError(spath, f"the file is not a valid {DELIMITERS[sep]}-separated table (read with the "
                              f"{DELIMITERS[sep]} its header uses)", fix="write the file with one delimiter, "
                              "quoting values that contain it.") from None
        return None
    if n == 0:
        con.execute(f"DROP TABLE IF EXISTS {name}_t")
        return None          # the Python reader names what is missing
    sel = ", ".join(quote_ident(c) for c in names)
    con.execute(f"CREATE TEMP VIEW {name} AS SELECT {sel}, rowid + 1 AS _row FROM {name}_t")
    # which columns need a trim is left to the load (Source.assumed): testing every cell costs half the read
    return Source(spath, name, "row", sha, {c: "VARCHAR" for c in names}, n, notes=notes,
                  clean=frozenset(names), assumed=frozenset(names),
                  _drop=[f"DROP VIEW IF EXISTS {name}", f"DROP TABLE IF EXISTS {name}_t"], _stat=stat)


def _nonscalar(v) -> bool:
    return isinstance(v, (dict, list, tuple, set)) or (hasattr(v, "__array__") and not np.isscalar(v))


def _from_frame(con, raw: RawTable) -> Source:
    """A pandas frame (JSON Lines, JSON, a DataFrame, or a CSV only the Python reader reads) as an Arrow view.
    Numeric and boolean columns keep their type; every other column becomes text (``str(value)``), and a cell
    holding an object or a list is flagged in ``__nonscalar__<column>``."""
    df = raw.df
    arrays, names, flagged = [], [], set()
    for c in df.columns:
        if c == "_row":
            continue
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
            arrays.append(pa.array(s, from_pandas=True))
        else:
            vals = s.astype(object).tolist()
            ns = [type(v).__name__ if _nonscalar(v) else None for v in vals]
            text = [None if f is None and (v is None or (isinstance(v, float) and v != v) or v is pd.NA
                                           or v is pd.NaT) else str(v) for v, f in zip(vals, ns)]
            arrays.append(pa.array(text, type=pa.string()))
            if any(f is not None for f in ns):
                flagged.add(str(c))
                names.append(str(c))
                arrays.append(pa.array(ns, type=pa.string()))
                names.append(f"__nonscalar__{c}")
                continue
        names.append(str(c))
    arrays.append(pa.array(df["_row"].to_numpy(dtype="int64")))
    names.append("_row")
    table = pa.Table.from_arrays(arrays, names=names)
    name = "_src_" + uuid.uuid4().hex[:10]
    con.register(name, table)
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {name}").fetchall()
             if r[0] != "_row" and not r[0].startswith("__nonscalar__")}
    return Source(raw.path, name, raw.where, raw.sha256, types, len(df), nonscalar=flagged,
                  _drop=[f"unregister {name}"])
