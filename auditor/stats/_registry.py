"""The statistic registry: one entry per statistic name, so new measures plug in as one file + one decorator.

An entry describes *what* a statistic is (design kind, levels it is defined for, symmetry, direction, how to read
it); its implementation registers a function. ``get(name)`` raises ``LookupError`` listing the valid names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

__all__ = ["StatisticSpec", "register", "get", "names", "specs"]

ALL_LEVELS = ("binary", "nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True)
class StatisticSpec:
    name: str
    kind: str                      # "paired" | "multirater" | "matched" | "calibration" | ...
    func: Callable
    levels: tuple[str, ...] = ALL_LEVELS
    symmetric: bool = False        # f(x, y) == f(y, x)
    higher_is_better: bool | None = True
    maximum: float | None = None   # value under perfect agreement, when there is one
    doc: str = ""
    extra: dict = field(default_factory=dict)


# keyed by (kind, name): the same statistic name (krippendorff_alpha) exists for paired and multi-rater data
_REGISTRY: dict[tuple[str, str], StatisticSpec] = {}


def register(name: str, *, kind: str, levels=ALL_LEVELS, symmetric=False, higher_is_better=True,
             maximum=None, doc: str = "", **extra):
    """Decorator: register ``func`` under ``name``."""

    def deco(func: Callable) -> Callable:
        if (kind, name) in _REGISTRY:
            raise ValueError(f"statistic '{name}' ({kind}) is already registered")
        _REGISTRY[(kind, name)] = StatisticSpec(name, kind, func, tuple(levels), symmetric, higher_is_better, maximum,
                                        doc or (func.__doc__ or "").strip().split("\n")[0], dict(extra))
        return func

    return deco


def get(name: str, kind: str | None = None) -> StatisticSpec:
    """The spec of ``name`` (of ``kind``, when several kinds share the name)."""
    for (k, n), s in _REGISTRY.items():
        if n == name and (kind is None or k == kind):
            return s
    raise LookupError(f"unknown statistic '{name}'" + (f" for {kind} data" if kind else "")
                      + f"; registered statistics are: {', '.join(names(kind))}")


def names(kind: str | None = None) -> list[str]:
    """Registered statistic names (of one kind), without repeats, in registration order."""
    return list(dict.fromkeys(n for (k, n) in _REGISTRY if kind is None or k == kind))


def specs(kind: str | None = None) -> list[StatisticSpec]:
    return [s for s in _REGISTRY.values() if kind is None or s.kind == kind]
