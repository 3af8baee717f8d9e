"""Read a user's file into a DataFrame of raw values, with the row number of every record.

Formats by suffix: ``.csv``, ``.tsv``, ``.jsonl`` / ``.ndjson``, ``.parquet``, ``.json`` (a list of objects).
Rows are numbered as a user finds them: CSV/TSV/Parquet ``row N`` counts data rows from 1 (the header is not a
row); JSON Lines ``line N`` is the line in the file. Nothing here touches the store.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .._text import short_text
from ..errors import IngestError

__all__ = ["RawTable", "as_raw_table", "check_file", "read_table", "file_sha256", "FORMATS", "load_json", "short_text",
           "short_list"]

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
           ".json": "json"}


@dataclass
class RawTable:
    path: str
    df: pd.DataFrame          # raw values; column "_row" holds each record's row/line number
    where: str                # "row" or "line": how _row is to be read
    sha256: str


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def short_list(items, n: int = 20) -> str:
    """Comma-separated names, each and the whole list shortened (for "the columns are: ..." messages)."""
    items = [short_text(c).replace("\n", " ") for c in items]
    return ", ".join(items[:n]) + (f", ... ({len(items) - n} more)" if len(items) > n else "")


class _RepeatedKey(Exception):
    pass


def _unique_keys(pairs: list) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen = set()
        raise _RepeatedKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return d


class _NonFinite:
    def __init__(self, text: str):
        self.text = text


_MANTISSA_DIGIT = re.compile(r"^[^eE]*[1-9]")


def _parse_float(text: str):
    """A JSON number as a float, or a :class:`_NonFinite` marker when a double cannot hold it: ``1e400`` would read
    as inf and ``1e-400`` as 0 (a rating of 0 can mean "not answered")."""
    v = float(text)
    if math.isinf(v) or (v == 0.0 and _MANTISSA_DIGIT.match(text)):
        return _NonFinite(text)
    return v


def _find_non_finite(obj, where: str = ""):
    """Path of the first NaN / Infinity literal in a parsed JSON value, or None."""
    if isinstance(obj, _NonFinite):
        return where or "(the value)", obj.text
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        found = _find_non_finite(v, f"{where}.{k}" if where else str(k))
        if found:
            return found
    return None


def load_json(path: str, text: str, row: int | None = None, where: str = "line", field: str | None = None):
    """``json.loads`` that refuses what Python accepts but is ambiguous or not JSON: an object that repeats a key
    (Python keeps the last silently), NaN / Infinity literals, numbers a double cannot hold (``1e400``, ``1e-400``)
    and unpaired UTF-16 surrogate escapes (which cannot be stored as UTF-8). Decode errors propagate.
    ``field`` names the column the text came from (errors then name ``field.path.inside``)."""
    out_of_range: list[str] = []

    def parse_float(t: str):
        v = _parse_float(t)
        if isinstance(v, _NonFinite):
            out_of_range.append(t)
        return v

    try:
        obj = json.loads(text, parse_constant=_NonFinite, parse_float=parse_float, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise IngestError(path, "the JSON is nested too deeply to read (hundreds of levels of [ or {)", row=row,
                          where=where, field=field, fix="flatten the value; conversations need a list of "
                          "{role, content} messages.") from None
    except _RepeatedKey as e:
        key = short_text(e.args[0])
        raise IngestError(path, f"a JSON object repeats the key {key!r}", row=row, where=where,
                          field=f"{field}.{key}" if field else key, fix="keep one value per key.") from None
    if "NaN" in text or "Infinity" in text or out_of_range:
        found = _find_non_finite(obj)
        if found:
            fld, lit = found
            problem = (f"{lit} is not valid JSON (not a finite number)" if lit in ("NaN", "Infinity", "-Infinity")
                       else f"{short_text(lit)} is outside the range of a double (it would read as "
                            f"{'0' if 'e-' in lit.lower() else 'infinity'})")
            raise IngestError(path, problem, row=row, where=where,
                              field=short_text(f"{field}.{fld}" if field else fld),
                              fix="write null for a missing value, or a finite number.")
    if "\\ud" in text.lower():
        try:
            json.dumps(obj, ensure_ascii=False, default=lambda o: None).encode("utf-8")
        except UnicodeEncodeError:
            raise IngestError(path, "a string has an unpaired UTF-16 surrogate escape (\\udXXX)", row=row,
                              where=where, field=field,
                              fix="write the text as UTF-8, or fix the broken escape.") from None
    return obj


def _decode(path: str, data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(path, "the file is UTF-16 encoded", row=1, where="line",
                          fix="re-save it as UTF-8 (e.g. `iconv -f utf-16 -t utf-8 FILE > NEW`).")
    nul = data.find(b"\x00")
    if nul >= 0:  # UTF-16 without a byte-order mark, or a binary file
        raise IngestError(path, "the file contains NUL bytes (UTF-16 without a byte-order mark, or not a text "
                          "file)", row=data[:nul].count(b"\n") + 1, where="line",
                          fix="re-save it as UTF-8 text (e.g. `iconv -f utf-16 -t utf-8 FILE > NEW`).")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise IngestError(path, f"the file is not valid UTF-8 (byte 0x{data[e.start]:02x})", row=line,
                          where="line", fix="re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE > NEW`).")


def _read_delimited(path: str, text: str, sep: str) -> pd.DataFrame:
    first = (_csv_records(text.split("\n", 1)[0], sep) or [[]])[0]
    if not any(c.strip() for c in first):
        raise IngestError(path, "the first line must be a header naming the columns", row=1, where="line",
                          fix="add a header line, e.g. conversation_id,dimension,rater_id,label.")
    # header=None: the header line fixes the number of fields, so a data row with more fields is an error
    # (with a header, pandas would silently turn an extra leading field into the index and shift every column)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str, keep_default_na=False,
                         na_values=[""], engine="c", skipinitialspace=False)
    except pd.errors.ParserError as e:
        raise _parse_error(path, text, sep, [c.strip() for c in first], str(e)) from None
    except pd.errors.EmptyDataError:
        raise IngestError(path, "the file has no header and no rows", fix="add a header line and data rows.")
    names = ["" if pd.isna(c) else str(c).strip() for c in df.iloc[0]]
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise IngestError(path, f"the header repeats column(s) {short_list(dup)}", row=1, where="line",
                          field=short_text(dup[0]), fix="give every column a unique name.")
    if "" in names:
        raise IngestError(path, f"header column {names.index('') + 1} has no name", row=1, where="line",
                          fix="name every column in the header line.")
    df = df.iloc[1:].reset_index(drop=True)
    df.columns = names
    return df


def _csv_records(text: str, sep: str) -> list[list[str]]:
    """All records of ``text`` by the csv module, without its 128 kB field limit (a long field is the user's
    business; the limit is restored afterwards)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        return list(csv.reader(io.StringIO(text), delimiter=sep))
    finally:
        csv.field_size_limit(limit)


def _parse_error(path: str, text: str, sep: str, names: list[str], msg: str) -> IngestError:
    """An :class:`IngestError` for a pandas tokenizer error, with the data row (and field) it concerns."""
    kind = "TSV" if sep == "\t" else "CSV"
    msg = msg.strip().replace("\n", " ").replace("Error tokenizing data. C error: ", "")
    m = re.search(r"starting at row (\d+)", msg)
    if m:  # header=None: record 0 is the header, so record k is data row k
        last = _csv_records(text, sep)[-1]   # the unclosed field runs to the end
        fld = names[len(last) - 1] if 0 < len(last) <= len(names) else None
        return IngestError(path, f"the file ends inside a quoted field (malformed {kind})", row=int(m.group(1)),
                           field=fld, fix="the file is truncated or a quote is not closed: export it again, or "
                                          "close the quote.")
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:  # "line" counts records from 1 with the header, so it is data row line - 1
        return IngestError(path, f"the row has {m.group(3)} fields but the header names {m.group(1)} (malformed "
                           f"{kind})", row=int(m.group(2)) - 1,
                           fix=f"quote values that contain a {'tab' if sep == chr(9) else 'comma'}, or name every "
                               "column in the header.")
    return IngestError(path, f"malformed {kind}: {msg[:200]}", fix="check quoting and the number of fields per row.")


def _read_jsonl(path: str, text: str) -> pd.DataFrame:
    records, rows = [], []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = load_json(path, line, row=i)
        except json.JSONDecodeError as e:
            raise IngestError(path, f"not valid JSON ({e.msg} at column {e.colno})", row=i, where="line",
                              fix="each line must be one complete JSON object; a truncated last line is "
                                  "a common cause.") from None
        if not isinstance(obj, dict):
            raise IngestError(path, f"expected a JSON object, found {type(obj).__name__}", row=i, where="line",
                              fix='write one object per line, e.g. {"conversation_id": "c1", ...}.')
        records.append(obj)
        rows.append(i)
    df = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    df["_row"] = rows
    return df


def _read_json(path: str, text: str) -> pd.DataFrame:
    try:
        obj = load_json(path, text)
    except json.JSONDecodeError as e:
        raise IngestError(path, f"not valid JSON ({e.msg})", row=e.lineno, where="line",
                          fix="check the file is complete (truncated?) and valid JSON.") from None
    if isinstance(obj, dict):
        for key in ("conversations", "data", "records", "items"):
            if isinstance(obj.get(key), list):
                obj = obj[key]
                break
    if not isinstance(obj, list) or not all(isinstance(o, dict) for o in obj):
        raise IngestError(path, "expected a JSON list of objects", fix="write a list of objects, one per record, "
                          "or use JSON Lines (.jsonl).")
    df = pd.DataFrame.from_records(obj)
    df["_row"] = range(1, len(obj) + 1)
    return df


def as_raw_table(source, source_name: str | None = None) -> RawTable:
    """A file path read with :func:`read_table`, or a DataFrame taken as it is (rows numbered from 1)."""
    if isinstance(source, pd.DataFrame):
        df = source.copy()
        df["_row"] = range(1, len(df) + 1)
        return RawTable(source_name or "<DataFrame>", df, "row", None)
    return read_table(source)


def check_file(p: Path, spath: str) -> str:
    """The format of a loadable file (by suffix); :class:`IngestError` for a missing, unreadable, special or
    empty file or an unknown suffix."""
    if not p.exists():
        raise IngestError(spath, "file not found", fix="check the path.")
    if p.is_dir():
        raise IngestError(spath, "is a directory, not a file", fix="pass a file path.")
    if not p.is_file():
        raise IngestError(spath, "is not a regular file (a pipe, device or socket cannot be hashed and read twice)",
                          fix="save the data to a file first, then load that file.")
    if not os.access(p, os.R_OK):
        raise IngestError(spath, "cannot be read (permission denied)", fix="check the file's permissions.")
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise IngestError(spath, f"unknown file type '{p.suffix}'",
                          fix=f"use one of {', '.join(sorted(FORMATS))} (the format is taken from the suffix).")
    if p.stat().st_size == 0:
        raise IngestError(spath, "the file is empty", fix="export the data again; nothing was loaded.")
    return fmt


def read_table(path: str | Path) -> RawTable:
    """Read ``path`` (see module doc for formats). Raises :class:`IngestError` naming the file and line."""
    p = Path(path)
    spath = str(path)
    fmt = check_file(p, spath)
    sha = file_sha256(p)
    if fmt == "parquet":
        try:
            import pyarrow.parquet as pq
            df = pq.read_table(p).to_pandas()
        except Exception as e:  # pyarrow raises several types for corrupt files
            raise IngestError(spath, f"not a readable Parquet file ({str(e).splitlines()[0][:200]})",
                              fix="write it again with pandas/pyarrow `to_parquet`, or use CSV.") from None
        df["_row"] = range(1, len(df) + 1)
        where = "row"
    else:
        text = _decode(spath, p.read_bytes())
        if "\r" in text and "\n" not in text:      # classic Mac line endings: CR only
            text = text.replace("\r", "\n")
        if not text.strip():
            raise IngestError(spath, "the file is empty", fix="export the data again; nothing was loaded.")
        if fmt in ("csv", "tsv"):
            df = _read_delimited(spath, text, "," if fmt == "csv" else "\t")
            df["_row"] = range(1, len(df) + 1)
            where = "row"
        elif fmt == "jsonl":
            df, where = _read_jsonl(spath, text), "line"
        else:
            df, where = _read_json(spath, text), "row"
    if len(df) == 0:
        raise IngestError(spath, "the file has a header but no data rows", fix="add data rows; nothing was loaded.")
    return RawTable(spath, df, where, sha)
