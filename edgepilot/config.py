"""YAML configuration files as typed dataclass sections (the one config format of the project).

Why shared: the driving model and the cockpit model both train from YAML files with sections of dataclass fields;
both want unknown keys to be errors that name the section and list what is known, and `extends: OTHER.yaml` to
take every key a file does not set from a parent file.
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def build_section(cls: type[T], data: dict[str, Any] | None, where: str) -> T:
    """`cls()` with the given keys set; an unknown key is an error naming `where` and the known keys."""
    data = dict(data or {})
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    out = cls()
    for k, v in data.items():
        default = getattr(out, k)
        if isinstance(default, tuple):
            v = tuple(v)
        setattr(out, k, v)
    return out


def read_yaml(path: str | Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file's sections, with `extends: OTHER.yaml` (relative to the file) applied underneath it key by key."""
    path = Path(path).resolve()
    if path in seen:
        raise ValueError(f"{path}: `extends` loops back to itself ({' -> '.join(p.name for p in seen + (path,))})")
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    base = data.pop("extends", None)
    if base is None:
        return data
    parent = path.parent / str(base)
    if not parent.is_file():
        raise FileNotFoundError(f"{path}: extends {base!r}, but {parent} does not exist")
    merged = read_yaml(parent, seen + (path,))
    for section, values in data.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **values}
        else:
            merged[section] = values
    return merged
