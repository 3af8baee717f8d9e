"""The DuckDB store: opening, migrations, transactions, read-only SQL.

All writes live in :mod:`auditor.store._writes` (signals, conversations, rubrics), :mod:`auditor.store._campaigns`
and :mod:`auditor.judge._records` (judge configs and runs, written by the judge package through this store); the
store imports no reader and no runner (the loaders are :mod:`auditor.ingest._load`, methods of ``auditor.Store``).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from ..errors import AuditorError, ReadOnlyError, StoreLockedError

__all__ = ["Store", "MIGRATIONS", "READ_STATEMENTS", "SIGNAL_TABLES", "LEAN_ROWS"]

MIGRATIONS_PACKAGE = "auditor.store.migrations"
READ_STATEMENTS = {"SELECT", "EXPLAIN"}
# the tables behind the view `signals` (migration 009): signal_rows has every column, signal_rows_lean the ones a
# bulk-loaded file of plain ratings fills, with its rubric and batch id in signal_loads (migration 010). Writers
# insert into one of them and delete from both.
SIGNAL_TABLES = ("signal_rows", "signal_rows_lean")
# the lean rows with their rubric and batch id, and their rowid as lean_rowid
LEAN_ROWS = ("(SELECT l.rowid AS lean_rowid, l.conversation_id, k.rubric, l.dimension, l.rater_id, l.sample, "
             "l.status, l.label, l.value, l.value_source, k.batch_id FROM signal_rows_lean l JOIN signal_loads k "
             "USING (load_key))")


def _migrations() -> list[tuple[int, str, str]]:
    out = []
    for f in resources.files(MIGRATIONS_PACKAGE).iterdir():
        m = re.match(r"^(\d+)_(.+)\.sql$", f.name)
        if m:
            out.append((int(m.group(1)), m.group(2), f.read_text(encoding="utf-8")))
    return sorted(out)


MIGRATIONS = _migrations()


def _holder(msg: str) -> str:
    """'pid N `its command line`' of the process DuckDB says holds the lock (Linux /proc), or what is known."""
    m = re.search(r"PID (\d+)", msg)
    if not m:
        return "another process"
    pid = m.group(1)
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        args = [a.decode(errors="replace") for a in args if a]
    except OSError:
        return f"process {pid}"
    # `python .../bin/auditor serve ...` reads better as `auditor serve ...`
    for i, a in enumerate(args):
        if a.endswith("/auditor") or a == "auditor":
            args = ["auditor", *args[i + 1:]]
            break
    return f"process {pid} (`{' '.join(' '.join(args).split())[:120]}`)"     # one line, whatever its arguments


def _connect(path: str, read_only: bool, lock_wait: float = 0.0, sandbox: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file. When another process holds it, retry for up to ``lock_wait`` seconds, then raise
    :class:`StoreLockedError` naming that process and what to do. ``sandbox``: no file or network access beyond
    the store itself, and settings that cannot be changed (for users' own queries)."""
    if path != ":memory:" and not Path(path).parent.is_dir():
        raise AuditorError(f"{path}: the folder {str(Path(path).parent)!r} does not exist. Fix: create it (mkdir -p "
                           f"{Path(path).parent}) or point --db at a file in an existing folder.")
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if sandbox:
        config.update(enable_external_access=False)
    deadline = time.monotonic() + max(0.0, lock_wait)
    while True:
        try:
            con = duckdb.connect(path, read_only=read_only, config=config)
            # no progress bar: DuckDB draws one on the terminal for a query over 2 s (a migration copying a large
            # table, a bulk load), and the library never prints. A connection-level setting, so set before the lock
            con.execute("SET enable_progress_bar = false")
            if sandbox:
                con.execute("SET lock_configuration = true")
            return con
        except duckdb.IOException as e:
            # DuckDB's own text (its PID, a hint about its CLI's -readonly flag, a docs link) is never shown: the
            # holder and our fix are said below
            msg = str(e).split("\n")[0]
            if "not a valid DuckDB database file" in msg:
                raise AuditorError(f"{path}: is not a DuckDB database, so not an auditor store. Fix: point --db at a "
                                   "store written by auditor, or at a new path to create one.") from None
            if "lock" not in msg.lower():
                raise AuditorError(f"{path}: cannot open the store: {msg}. Fix: check that the file is readable (and "
                                   "writable, for commands that change it), or point --db elsewhere.") from None
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            holder = _holder(msg)
            serving = " serve" in holder
            raise StoreLockedError(
                f"{path}: the store is in use by {holder}; DuckDB allows one writing process"
                + (f" (waited {lock_wait:g} s)" if lock_wait else "") + ". Fix: "
                + ("while the server runs, use its pages and JSON API (/browse, /campaigns/NAME), or stop it "
                   "(Ctrl-C in its terminal) and retry" if serving else
                   "wait for it to finish, or stop it, and retry")
                + "; --wait SECONDS waits longer.") from None
        except duckdb.Error as e:
            if Path(path).is_dir():
                raise AuditorError(f"{path}: is a directory, not a store file. Fix: point --db at a file, e.g. "
                                   f"--db {Path(path) / 'auditor.duckdb'}.") from None
            if Path(path).is_file():
                raise AuditorError(f"{path}: is not a DuckDB database, so not an auditor store. Fix: point --db at "
                                   "a store written by auditor, or at a new path to create one.") from None
            raise AuditorError(f"{path}: cannot open the store: {str(e).splitlines()[0]}. Fix: point --db at a "
                               "DuckDB file written by auditor, or at a new path.") from None


class Store:
    """A rating store in one DuckDB file (or ``":memory:"``).

    Opening a store creates or upgrades its schema (numbered migrations in ``auditor/store/migrations``,
    recorded in ``schema_migrations``). ``read_only=True`` opens it for queries only (``auditor sql``).
    ``lock_wait`` is how long to wait for another process that holds the file (e.g. ``auditor serve``) before
    raising :class:`~auditor.errors.StoreLockedError`. ``sandbox=True`` (with ``read_only``) also denies DuckDB any
    file or network access besides the store and locks its settings: what ``auditor sql`` opens for users' queries.

    Examples
    --------
    >>> from auditor import Store
    >>> store = Store(":memory:")
    >>> store.sql("SELECT count(*) AS n FROM signals")["n"][0]
    0
    """

    def __init__(self, path: str | Path = "auditor.duckdb", *, read_only: bool = False, lock_wait: float = 0.0,
                 sandbox: bool = False):
        self.path = str(path)
        self.read_only = read_only
        if read_only and self.path != ":memory:" and not Path(self.path).exists():
            raise AuditorError(f"{self.path}: no store here. Fix: run `auditor demo` or an `auditor ingest` "
                               "command first, or pass --db PATH to an existing store.")
        self.con = _connect(self.path, read_only, lock_wait, sandbox and read_only)
        self._in_tx = False
        if read_only and self.path != ":memory:" and self._pending():
            # an older store opened for reading: upgrade it once (briefly writable), then reopen read-only
            self.con.close()
            try:
                Store(self.path, lock_wait=lock_wait).close()
            except AuditorError:
                pass                  # cannot write it (permissions, a lock): _migrate below says what to do
            self.con = _connect(self.path, read_only, lock_wait, sandbox and read_only)
        self._migrate()

    # -- lifecycle ---------------------------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _applied_versions(self) -> set[int]:
        exists = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'").fetchall()[0][0]
        if not exists:
            return set()
        return {r[0] for r in self.con.execute("SELECT version FROM schema_migrations").fetchall()}

    def _pending(self) -> list:
        applied = self._applied_versions()
        return [m for m in MIGRATIONS if m[0] not in applied]

    def _migrate(self) -> None:
        pending = self._pending()
        if not pending:
            return
        if self.read_only:
            raise AuditorError(f"{self.path}: this store needs a schema upgrade ({len(pending)} migration(s)). "
                               "Fix: run `auditor init` once, which upgrades it.")
        with self.transaction():
            self.con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                             "name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)")
            for version, name, sql in pending:
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One all-or-nothing transaction; nested uses join the outer one."""
        if self._in_tx:
            yield self.con
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        try:
            yield self.con
        except BaseException:
            self._in_tx = False
            self.con.execute("ROLLBACK")
            raise
        self._in_tx = False
        self.con.execute("COMMIT")

    def delete_signals(self, where: str, params: list | None = None, *, using: str = "") -> int:
        """``DELETE FROM <table> s [USING ...] WHERE <where>`` on both tables behind ``signals`` (``s`` names the
        table's row in ``where``, with the columns of the view but confidence, probs, raw, rationale, error and
        run_id); the number of signals deleted."""
        if not re.match(r"(?i)^\s*(USING\s|$)", using):
            raise ValueError(f"using must start with USING: {using!r}")
        n = self.con.execute(f"DELETE FROM signal_rows s {using} WHERE {where}", params or []).fetchall()[0][0]
        # a lean row's rubric and batch id are its load's: the rows to delete are found through LEAN_ROWS
        other = f", {using.strip()[len('USING'):]}" if using.strip() else ""
        return n + self.con.execute(f"DELETE FROM signal_rows_lean WHERE rowid IN (SELECT s.lean_rowid FROM "
                                    f"{LEAN_ROWS} s{other} WHERE {where})", params or []).fetchall()[0][0]

    # -- reading -----------------------------------------------------------------------------------------
    def schema_version(self) -> int:
        return max(self._applied_versions(), default=0)

    def sql(self, query: str, params: list | None = None, *, allow_writes: bool = False,
            timeout_s: float | None = None) -> pd.DataFrame:
        """Run one query and return a DataFrame.

        Unless ``allow_writes``, only SELECT-like statements are accepted (:func:`check_read_only`), and on a
        writable store the query runs in a transaction that is rolled back, so nothing it might do is kept.
        ``timeout_s`` interrupts a query that runs longer.
        """
        guard = not allow_writes and not self.read_only and not self._in_tx
        if not allow_writes:
            check_read_only(query)
        timer = None
        if timeout_s:
            timer = threading.Timer(timeout_s, self.con.interrupt)
            timer.daemon = True
            timer.start()
        try:
            if guard:
                self.con.execute("BEGIN TRANSACTION")
            try:
                return _enums_as_text(self.con.execute(query, params or []).fetchdf())
            finally:
                if guard:
                    self.con.execute("ROLLBACK")
        except duckdb.InterruptException:
            raise AuditorError(f"the query ran longer than {timeout_s:g} s and was stopped. Fix: narrow it (WHERE, "
                               "LIMIT) or allow more time with --timeout SECONDS.") from None
        except duckdb.PermissionException as e:
            raise ReadOnlyError(f"refused: {str(e).splitlines()[0].split(': ', 1)[-1]}. `auditor sql` reads the "
                                "store's own tables and views only (no files, no network, no settings). Fix: query "
                                "the tables (signals, conversations, ...) or the views signals_long, paired, "
                                "matched.") from None
        except duckdb.Error as e:
            raise AuditorError(sql_error(e)) from None
        finally:
            if timer is not None:
                timer.cancel()

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables."""
        tables = ["rubrics", "conversations", "tasks", "raters", "signals", "judge_configs", "runs", "ingest_batches"]
        return {t: self.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}

    def rubric_names(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT rubric FROM rubrics ORDER BY rubric").fetchall()]

    def rubric(self, name_or_path: str | Path):
        """A rubric by built-in name, by file path, or by the name of a rubric stored here (one first loaded from a
        file is then usable by its name)."""

        from ..rubric import builtin_rubric_names, load_rubric, rubric_from_spec
        from ..errors import RubricError

        try:
            return load_rubric(name_or_path)
        except RubricError:
            p = Path(str(name_or_path))
            if p.suffix or p.exists():
                raise                                   # a file was meant: its own error says what is wrong
            row = self.con.execute("SELECT spec FROM rubrics WHERE rubric = ?", [str(name_or_path)]).fetchall()
            if row:
                return rubric_from_spec(row[0][0])
            stored = [n for n in self.rubric_names() if n not in builtin_rubric_names()]
            raise RubricError(f"unknown rubric '{name_or_path}'; built-in rubrics are: "
                              f"{', '.join(builtin_rubric_names())}"
                              + (f"; stored in this store: {', '.join(stored)}" if stored else "")
                              + ". Fix: use one of them (`auditor rubrics list`), or a path to a rubric YAML "
                                "file.") from None


def _enums_as_text(df: pd.DataFrame) -> pd.DataFrame:
    """ENUM columns (signals.status, .value_source) as the text columns they were before migration 008, not
    pandas categoricals (whose groupby shows unused members and whose fillna refuses new values)."""
    for i, t in enumerate(df.dtypes):
        if isinstance(t, pd.CategoricalDtype):
            df.isetitem(i, df.iloc[:, i].astype(t.categories.dtype))     # pandas' own text dtype, NaN kept
    return df


def sql_error(e: Exception) -> str:
    """DuckDB's first line for a failed query, and what to do about it."""
    msg = str(e).splitlines()[0]
    if isinstance(e, duckdb.CatalogException) or "does not exist" in msg:
        fix = ("`auditor sql \"SHOW TABLES\"` lists the tables; the views signals_long, paired and matched join them "
               "for you")
    elif isinstance(e, duckdb.BinderException):
        fix = "`auditor sql \"DESCRIBE signals_long\"` lists a table's or view's columns"
    else:
        fix = "correct the SQL (DuckDB's dialect: https://duckdb.org/docs/sql/introduction)"
    return f"SQL error: {msg.rstrip('!.')}. Fix: {fix}."


_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)
_SEQUENCE_WRITES = re.compile(r"\b(nextval|setval)\s*\(", re.IGNORECASE)


def check_read_only(query: str) -> None:
    """Raise :class:`ReadOnlyError` unless every statement in ``query`` only reads.

    ``EXPLAIN`` is judged by what it explains (``EXPLAIN ANALYZE`` runs it), and ``nextval`` / ``setval`` are refused
    (sequences change even when the transaction is rolled back).
    """
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as e:
        raise AuditorError(sql_error(e)) from None
    if not statements:
        raise AuditorError("SQL error: the query is empty. Fix: pass a SELECT, e.g. `auditor sql \"SELECT * FROM "
                           "signals_long LIMIT 5\"`.")
    for st in statements:
        kind = st.type.name
        if kind == "EXPLAIN":
            inner = _EXPLAIN.sub("", st.query, count=1)
            if inner.strip() == st.query.strip():
                raise ReadOnlyError("refused: this EXPLAIN could not be read. Fix: EXPLAIN a SELECT query.")
            check_read_only(inner)
            continue
        if kind == "COPY":
            raise ReadOnlyError("refused: `auditor sql` is read-only and COPY writes a file. Fix: `auditor export "
                                "TABLE --to out.parquet` (or --query \"SELECT ...\") writes tables and queries to "
                                "Parquet, CSV or JSON lines.")
        if kind not in READ_STATEMENTS:
            raise ReadOnlyError(f"refused: `auditor sql` is read-only and this is a {kind} statement. "
                                "Fix: use `auditor ingest ...` to add data (with --replace to change it); "
                                "queries may only SELECT (views: signals_long, paired, matched).")
        if _SEQUENCE_WRITES.search(st.query):
            raise ReadOnlyError("refused: nextval / setval change a sequence, and `auditor sql` is read-only. "
                                "Fix: use currval, or leave sequences alone.")
