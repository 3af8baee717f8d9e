"""Check that the audit's rows are unchanged: values and intervals to 1e-12 with the same seed, same n and notes.

    python benchmarks/check_audit_equal.py --store /tmp/store20k.duckdb --save before.json     # on the old code
    python benchmarks/check_audit_equal.py --store /tmp/store20k.duckdb --baseline before.json # on the new code

The store is the synthetic one of ``_synthetic.py`` (``--conversations``, default 20,000), built when ``--store``
does not exist yet; reuse the same file for both runs (the generator draws from DuckDB's random(), so a rebuilt
store is not guaranteed to hold the same numbers). The audit is the library call behind ``auditor audit``
(``auditor.audit.audit``, B = ``--bootstrap``, ``--seed``). Exit status 1 when a row differs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _synthetic  # noqa: E402

KEY = ["rater", "reference", "design", "rubric", "dimension", "level", "statistic"]
NUMBERS = ["value", "ci_low", "ci_high"]


def audit_rows(path: str, n_boot: int, seed: int, threads: int | None) -> tuple[list[dict], float, float]:
    from auditor import Store
    from auditor.audit import AuditOptions, audit

    w0, c0 = time.perf_counter(), time.process_time()
    with Store(path, read_only=True) as store:
        df = audit(store, AuditOptions(n_boot=n_boot, seed=seed, threads=threads))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    rows = []
    for rec in df.to_dict(orient="records"):
        row = {k: rec[k] for k in KEY}
        for k in NUMBERS:
            v = rec[k]
            row[k] = None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
        row["n"] = None if rec["n"] is None else int(rec["n"])
        row["note"] = rec["note"]
        rows.append(row)
    return rows, wall, cpu


def compare(rows: list[dict], baseline: list[dict], tol: float) -> list[str]:
    """Differences between two row lists, as sentences (empty when equal)."""
    def keyed(rs):
        out = {}
        for r in rs:
            out.setdefault(tuple(r[k] for k in KEY), []).append(r)
        return out

    new, old = keyed(rows), keyed(baseline)
    problems = [f"missing row {k}" for k in old if k not in new] + [f"extra row {k}" for k in new if k not in old]
    worst = 0.0
    for k in old.keys() & new.keys():
        if len(old[k]) != len(new[k]):
            problems.append(f"{k}: {len(old[k])} rows before, {len(new[k])} now")
            continue
        for a, b in zip(old[k], new[k]):
            for f in NUMBERS:
                if (a[f] is None) != (b[f] is None):
                    problems.append(f"{k} {f}: {a[f]} before, {b[f]} now")
                elif a[f] is not None:
                    d = abs(a[f] - b[f])
                    worst = max(worst, d)
                    if d > tol:
                        problems.append(f"{k} {f}: {a[f]!r} before, {b[f]!r} now (|diff| {d:.1e})")
            for f in ("n", "note"):
                if a[f] != b[f]:
                    problems.append(f"{k} {f}: {a[f]!r} before, {b[f]!r} now")
    print(f"{len(rows)} rows now, {len(baseline)} in the baseline; largest |difference| of value / ci_low / "
          f"ci_high: {worst:.1e} (tolerance {tol:g})")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", help="the synthetic store (built here when missing); default: a private temp file")
    ap.add_argument("--conversations", type=int, default=20_000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--save", help="write the rows to this JSON file")
    ap.add_argument("--baseline", help="compare the rows with this JSON file (from --save)")
    ap.add_argument("--tol", type=float, default=1e-12)
    a = ap.parse_args(argv)
    tmp = None
    if a.store is None:
        tmp = tempfile.mkdtemp(prefix="auditor-check-")
        a.store = os.path.join(tmp, "store.duckdb")
    try:
        if not os.path.exists(a.store):
            t = _synthetic.build(a.store, a.conversations)
            print(f"built {a.store}: {a.conversations:,} conversations in {t:.1f} s")
        rows, wall, cpu = audit_rows(a.store, a.bootstrap, a.seed, a.threads)
        print(f"audit of {a.store}, B = {a.bootstrap}, seed {a.seed}: {len(rows)} rows in {wall:.1f} s wall, "
              f"{cpu:.1f} CPU-s")
        if a.save:
            Path(a.save).write_text(json.dumps(rows, indent=0))
            print(f"saved {a.save}")
        if a.baseline:
            problems = compare(rows, json.loads(Path(a.baseline).read_text()), a.tol)
            for p in problems[:30]:
                print("  " + p)
            print("EQUAL" if not problems else f"DIFFERENT: {len(problems)} difference(s)")
            return 1 if problems else 0
        return 0
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
