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


_REGISTRY: dict[str, StatisticSpec] = {}


def register(name: str, *, kind: str, levels=ALL_LEVELS, symmetric=False, higher_is_better=True,
             maximum=None, doc: str = "", **extra):
    """Decorator: register ``func`` under ``name``."""

    def deco(func: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"statistic '{name}' is already registered")
        _REGISTRY[name] = StatisticSpec(name, kind, func, tuple(levels), symmetric, higher_is_better, maximum,
                                        doc or (func.__doc__ or "").strip().split("\n")[0], dict(extra))
        return func

    return deco


def get(name: str) -> StatisticSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise LookupError(f"unknown statistic '{name}'; registered statistics are: {', '.join(sorted(_REGISTRY))}")


def names(kind: str | None = None) -> list[str]:
    return [n for n, s in _REGISTRY.items() if kind is None or s.kind == kind]


def specs(kind: str | None = None) -> list[StatisticSpec]:
    return [s for s in _REGISTRY.values() if kind is None or s.kind == kind]
