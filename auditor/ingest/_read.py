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
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import IngestError

__all__ = ["RawTable", "read_table", "file_sha256", "FORMATS"]

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


def _decode(path: str, data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(path, "the file is UTF-16 encoded", row=1, where="line",
                          fix="re-save it as UTF-8 (e.g. `iconv -f utf-16 -t utf-8 FILE > NEW`).")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise IngestError(path, f"the file is not valid UTF-8 (byte 0x{data[e.start]:02x})", row=line,
                          where="line", fix="re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE > NEW`).")


def _read_delimited(path: str, text: str, sep: str) -> pd.DataFrame:
    first = next(csv.reader(io.StringIO(text.split("\n", 1)[0]), delimiter=sep), [])
    names = [c.strip() for c in first]
    if not any(names):
        raise IngestError(path, "the first line must be a header naming the columns", row=1, where="line",
                          fix="add a header line, e.g. conversation_id,dimension,rater_id,label.")
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise IngestError(path, f"the header repeats column(s) {dup}", row=1, where="line", field=dup[0],
                          fix="give every column a unique name.")
    if "" in names:
        raise IngestError(path, f"header column {names.index('') + 1} has no name", row=1, where="line",
                          fix="name every column in the header line.")
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""],
                         engine="c", skipinitialspace=False)
    except pd.errors.ParserError as e:
        msg = str(e).strip().replace("\n", " ")
        raise IngestError(path, f"malformed {'TSV' if sep == chr(9) else 'CSV'}: {msg}",
                          fix="check quoting and the number of fields on that line (a truncated file ends inside "
                              "a quoted field).") from None
    except pd.errors.EmptyDataError:
        raise IngestError(path, "the file has no header and no rows", fix="add a header line and data rows.")
    df.columns = names
    return df


def _read_jsonl(path: str, text: str) -> pd.DataFrame:
    records, rows = [], []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
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
        obj = json.loads(text)
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


def read_table(path: str | Path) -> RawTable:
    """Read ``path`` (see module doc for formats). Raises :class:`IngestError` naming the file and line."""
    p = Path(path)
    spath = str(path)
    if not p.exists():
        raise IngestError(spath, "file not found", fix="check the path.")
    if p.is_dir():
        raise IngestError(spath, "is a directory, not a file", fix="pass a file path.")
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise IngestError(spath, f"unknown file type '{p.suffix}'",
                          fix=f"use one of {', '.join(sorted(FORMATS))} (the format is taken from the suffix).")
    sha = file_sha256(p)
    if p.stat().st_size == 0:
        raise IngestError(spath, "the file is empty", fix="export the data again; nothing was loaded.")
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
