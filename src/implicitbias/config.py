"""Frozen-dataclass configs: JSON round trip, ``key=value`` overrides and a stable hash.

Every experiment and trainer config in the library is a frozen dataclass. This module gives
them a common, dependency-free toolkit:

* :func:`to_dict` / :func:`from_dict` — JSON-safe round trip (nested dataclasses, tuples).
* :func:`override` — apply ``["lr=1e-3", "model.width=64"]`` strings from the CLI, parsing
  each value to the field's declared type and rejecting unknown keys with a
  :class:`~implicitbias.errors.UserInputError`.
* :func:`config_hash` — first 8 hex digits of the sha256 of the canonical JSON, used to
  name run directories.
* :func:`bounded` — a field with a declared range, ``steps: int = bounded(1000, ge=1)``;
  :func:`check_config` enforces every declared range (items of tuples too), refuses NaN and
  ±inf in any float field and integers outside int64, then calls the config's optional
  ``validate()`` hook (cross-field checks). :func:`from_dict` and :func:`override` call it,
  so ``--set`` values and JSON files are checked when they are read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from implicitbias.errors import UserInputError
from implicitbias.ranges import MAX_STEPS, Range, bounded, check_config

C = TypeVar("C")

__all__ = [
    "to_dict", "from_dict", "override", "config_hash", "to_json", "parse_value",
    "bounded", "Range", "check_config", "MAX_STEPS",
]




def to_dict(cfg: Any) -> dict[str, Any]:
    """Convert a (nested) dataclass to a JSON-safe dict (tuples become lists)."""
    if not dataclasses.is_dataclass(cfg):
        raise TypeError(f"expected a dataclass instance, got {type(cfg).__name__}")
    return _jsonable(dataclasses.asdict(cfg))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and obj != obj:  # NaN
        return None
    return obj


def to_json(cfg: Any) -> str:
    """Canonical JSON (sorted keys) of a dataclass config."""
    return json.dumps(to_dict(cfg), sort_keys=True)


def config_hash(cfg: Any) -> str:
    """First 8 hex digits of sha256 of the canonical JSON of ``cfg``."""
    return hashlib.sha256(to_json(cfg).encode()).hexdigest()[:8]


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Coerce a JSON value (or a string from the CLI) to the annotated type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except (UserInputError, TypeError, ValueError) as e:
                errors.append(str(e))
        raise UserInputError(f"{where}: cannot interpret {value!r} as {tp}")
    if origin is typing.Literal:
        if value in args:
            return value
        if isinstance(value, str):
            for a in args:
                if str(a) == value:
                    return a
        raise UserInputError(f"{where}: {value!r} is not one of {list(args)}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, str):
            value = parse_value(value)
        if not isinstance(value, Mapping):
            raise UserInputError(f"{where}: expected an object for {tp.__name__}")
        return from_dict(tp, value)
    if origin in (tuple, list):
        if isinstance(value, str):
            value = parse_value(value)
            if not isinstance(value, (list, tuple)):
                value = [value]
        if not isinstance(value, (list, tuple)):
            raise UserInputError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], where) for v in value)
        if origin is tuple and args:
            if len(args) != len(value):
                raise UserInputError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(v, a, where) for v, a in zip(args, value, strict=True))
        inner = args[0] if args else Any
        seq = [_coerce(v, inner, where) for v in value]
        return tuple(seq) if origin is tuple else seq
    if origin is dict:
        if isinstance(value, str):
            value = parse_value(value)
        if not isinstance(value, Mapping):
            raise UserInputError(f"{where}: expected an object, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        raise UserInputError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise UserInputError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                f = float(value)
            except ValueError:
                raise UserInputError(f"{where}: expected an integer, got {value!r}") from None
            if f.is_integer():
                return int(f)
        raise UserInputError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise UserInputError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise UserInputError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        if not isinstance(value, str):
            raise UserInputError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
    """Build dataclass ``cls`` from a dict, validating keys and coercing types."""
    if not isinstance(data, Mapping):
        raise UserInputError(f"config for {cls.__name__} must be an object")
    hints = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserInputError(
            f"unknown config key(s) for {cls.__name__}: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(names))})"
        )
    kwargs = {k: _coerce(v, hints[k], f"{cls.__name__}.{k}") for k, v in data.items()}
    try:
        obj = cls(**kwargs)
    except UserInputError:
        raise
    except (TypeError, ValueError) as e:
        raise UserInputError(f"invalid {cls.__name__}: {e}") from None
    check_config(obj)
    return obj


def parse_value(text: str) -> Any:
    """Parse a CLI value: JSON if it parses, a comma list as a list, else the raw string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if "," in text:
        return [parse_value(t.strip()) for t in text.split(",")]
    return text


def override(cfg: C, assignments: Iterable[str]) -> C:
    """Return a copy of ``cfg`` with ``key=value`` (dotted keys for nested) applied.

    Raises:
        UserInputError: malformed assignment, unknown key or a value of the wrong type.
    """
    data = to_dict(cfg)
    for item in assignments:
        if "=" not in item:
            raise UserInputError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node: dict[str, Any] = data
        for p in parts[:-1]:
            if p not in node or not isinstance(node[p], dict):
                raise UserInputError(f"unknown config key {key!r}")
            node = node[p]
        if parts[-1] not in node:
            raise UserInputError(
                f"unknown config key {key!r} (known: {', '.join(sorted(node))})"
            )
        node[parts[-1]] = raw.strip()
    # Strings from the CLI are coerced field by field against the declared types.
    return from_dict(type(cfg), data)
