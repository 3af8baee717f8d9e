"""Every fault of a rejected file in one error: the first ones in file order, then counts of the rest per kind.

A fault is one row's first problem (the checks run in a fixed order, so a row with two problems reports the one
the earlier check finds). :class:`IngestFaults` is an :class:`~auditor.errors.IngestError` whose ``row``,
``field``, ``problem`` and ``fix`` are the first fault's; one fault prints as the usual one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import IngestError

__all__ = ["Fault", "IngestFaults", "raise_faults", "SHOWN"]

SHOWN = 20          # faults listed one by one; the rest are counted per kind


@dataclass(frozen=True)
class Fault:
    row: int | None
    kind: str              # a short name of the check, e.g. "label is not an option"
    field: str | None
    problem: str
    fix: str


class IngestFaults(IngestError):
    """Several rejected rows of one file. ``faults``: the listed ones; ``more``: {kind: rows not listed}."""

    def __init__(self, path: str, faults: list[Fault], more: dict[str, int], where: str, total: int):
        first = faults[0]
        super().__init__(path, first.problem, row=first.row, field=first.field, fix=first.fix, where=where)
        self.faults, self.more, self.total = faults, more, total
        lines = [f"{path}: {total} rows are rejected, nothing was loaded; in file order:"]
        lines += ["  " + str(IngestError(path, f.problem, row=f.row, field=f.field, fix=f.fix, where=where))
                  for f in faults]
        lines += [f"  and {n} more row(s) with the same fault: {kind}" for kind, n in more.items()]
        self.args = ("\n".join(lines),)

    def __str__(self) -> str:
        return self.args[0]


def raise_faults(path: str, faults: list[Fault], counts: dict[str, tuple[int, int]], where: str) -> None:
    """Raise for ``faults`` (the first ones, any order) given ``counts``: {kind: (faulty rows, first row)}."""
    if not faults:
        return
    faults = sorted(faults, key=lambda f: (f.row is None, f.row or 0))
    total = sum(n for n, _ in counts.values())
    if total == 1:
        f = faults[0]
        raise IngestError(path, f.problem, row=f.row, field=f.field, fix=f.fix, where=where)
    shown = faults[:SHOWN]
    more: dict[str, int] = {}
    for kind, (n, _) in sorted(counts.items(), key=lambda kv: kv[1][1]):
        rest = n - sum(1 for f in shown if f.kind == kind)
        if rest > 0:
            more[kind] = rest
    raise IngestFaults(path, shown, more, where, total)
