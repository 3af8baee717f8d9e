"""Rubrics as data: YAML files validated by pydantic.

A rubric is a named, versioned set of dimensions (questions). Each dimension declares its level of measurement,
its options (label and numeric value; non-monotone maps such as "Too many"=1, "About right"=2, "Too few"=1 are
allowed), an optional "not answered" code and its direction.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._yaml import load_yaml
from .errors import RubricError

__all__ = ["Option", "Dimension", "Rubric", "load_rubric", "builtin_rubric_names", "builtin_rubric_dir"]


Level = Literal["binary", "nominal", "ordinal", "interval", "ratio"]


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(min_length=1)
    value: float

    @field_validator("label", mode="before")
    @classmethod
    def _label_to_str(cls, v):
        return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


class Dimension(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    question: str = ""
    level: Level
    options: list[Option] = Field(min_length=2)
    missing_code: str | None = None
    higher_is_better: bool | None = True

    @field_validator("missing_code", mode="before")
    @classmethod
    def _code_to_str(cls, v):
        return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _check_options(self):
        labels = [o.label for o in self.options]
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise ValueError(f"dimension '{self.name}': option labels must be unique, repeated: {sorted(dup)}")
        if self.missing_code is not None and self.missing_code in labels:
            raise ValueError(f"dimension '{self.name}': missing_code '{self.missing_code}' is also an option label")
        if self.level == "binary" and len(set(self.values)) != 2:
            raise ValueError(f"dimension '{self.name}': a binary dimension needs exactly two distinct option values")
        if self.level == "ratio" and min(self.values) < 0:
            raise ValueError(f"dimension '{self.name}': ratio values must be >= 0")
        return self

    @property
    def values(self) -> list[float]:
        return [o.value for o in self.options]

    @property
    def distinct_values(self) -> list[float]:
        return sorted(set(self.values))

    @property
    def value_range(self) -> tuple[float, float]:
        return min(self.values), max(self.values)

    def label_to_value(self) -> dict[str, float]:
        return {o.label: o.value for o in self.options}

    def value_to_label(self) -> dict[float, str | None]:
        """Value -> label; ``None`` where several options share the value (non-monotone maps)."""
        out: dict[float, str | None] = {}
        for o in self.options:
            out[o.value] = None if o.value in out else o.label
        return out


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    version: str = "1"
    description: str = ""
    dimensions: list[Dimension] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_to_str(cls, v):
        return str(v)

    @model_validator(mode="after")
    def _unique_dims(self):
        names = [d.name for d in self.dimensions]
        dup = {x for x in names if names.count(x) > 1}
        if dup:
            raise ValueError(f"dimension names must be unique, repeated: {sorted(dup)}")
        return self

    def dimension(self, name: str) -> Dimension:
        for d in self.dimensions:
            if d.name == name:
                return d
        raise RubricError(f"rubric '{self.name}' has no dimension '{name}'; its dimensions are: "
                          f"{', '.join(self.dimension_names)}")

    @property
    def dimension_names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    @functools.cached_property
    def content_hash(self) -> str:
        # computed once per (frozen) rubric: a judge run asks for it per item
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()[:16]


def builtin_rubric_dir() -> Path:
    """Where the built-in rubrics live: packaged copy in a wheel, the repository's ``rubrics/`` otherwise."""
    packaged = Path(__file__).parent / "_builtin_rubrics"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "rubrics"


def builtin_rubric_names() -> list[str]:
    return sorted(p.stem for p in builtin_rubric_dir().glob("*.yaml"))


def _format_validation_error(path: str, err: ValidationError) -> str:
    msgs = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        msgs.append(f"{loc}: {e['msg']}" if loc else e["msg"])
    return (f"{path}: invalid rubric: " + "; ".join(msgs).rstrip(".") + ". Fix: correct that field; `auditor rubrics "
            "show likert5` prints a complete rubric to start from.")


def load_rubric(name_or_path: str | Path) -> Rubric:
    """Load a built-in rubric by name (``tau_usi``) or any rubric YAML file by path.

    Raises :class:`RubricError` naming the file and the failing field.
    """
    p = Path(name_or_path)
    if not p.suffix and not p.exists():
        cand = builtin_rubric_dir() / f"{name_or_path}.yaml"
        if not cand.exists():
            raise RubricError(f"unknown rubric '{name_or_path}'; built-in rubrics are: "
                              f"{', '.join(builtin_rubric_names())}. Fix: use one of them, a rubric stored by an "
                              "earlier load (`auditor rubrics list`), or a path to a rubric YAML file.")
        p = cand
    if not p.exists():
        raise RubricError(f"{p}: rubric file not found. Fix: check the path, or name a built-in or stored rubric "
                          "(`auditor rubrics list`).")
    if not p.is_file():
        raise RubricError(f"{p}: is not a rubric file (a folder or device). Fix: pass a rubric YAML file, or a "
                          f"built-in name ({', '.join(builtin_rubric_names())}).")
    st = p.stat()
    return _load_rubric_file(str(p.resolve()), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=64)
def _load_rubric_file(path: str, mtime_ns: int, size: int) -> Rubric:
    """Parse and validate one rubric file; cached by path, modification time and size (rubrics are frozen)."""
    p = Path(path)
    try:
        data = load_yaml(p.read_text(encoding="utf-8"), str(p))
    except OSError as e:
        raise RubricError(f"{p}: cannot be read ({e.strerror or e}). Fix: check the file's permissions.") from None
    except UnicodeDecodeError:
        raise RubricError(f"{p}: not UTF-8 text. Fix: save the rubric as UTF-8.") from None
    except ValueError as e:
        raise RubricError(str(e)) from None
    if not isinstance(data, dict):
        raise RubricError(f"{p}: a rubric must be a YAML mapping with name, version, dimensions. Fix: start from "
                          "`auditor rubrics show likert5`.")
    try:
        return Rubric.model_validate(data)
    except ValidationError as e:
        raise RubricError(_format_validation_error(str(p), e)) from None


@functools.lru_cache(maxsize=64)
def rubric_from_spec(spec: str) -> Rubric:
    """A rubric from the JSON spec the store keeps (``rubrics.spec``); cached, rubrics being frozen."""
    return Rubric.model_validate(json.loads(spec))
