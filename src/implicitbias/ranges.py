"""Declared ranges on config fields: ``steps: int = bounded(1000, ge=1, le=MAX_STEPS)``.

:func:`bounded` stores a :class:`Range` in the dataclass field's metadata; :func:`check_config`
(called by :func:`implicitbias.config.from_dict`, hence by every ``--set`` override and JSON
load) enforces it on the value (on every item of a tuple), refuses NaN / ±inf in any float
field and integers beyond int64, then calls the config's optional ``validate()`` hook for
cross-field checks. Errors are :class:`~implicitbias.errors.UserInputError` naming the field,
its value and the allowed range.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from implicitbias.errors import UserInputError

__all__ = ["Range", "bounded", "check_config", "MAX_STEPS"]

#: Largest step count any config accepts (a run of 1e9 steps already takes days).
MAX_STEPS = 10**9
_INT64 = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class Range:
    """A closed / open interval ``ge <= x <= le`` (``gt`` / ``lt`` for strict bounds).

    ``None`` bounds are absent. For a tuple field the range applies to every item; ``min_len``
    / ``max_len`` bound the number of items.
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_len: int | None = None
    max_len: int | None = None

    def describe(self) -> str:
        parts = []
        if self.ge is not None:
            parts.append(f">= {self.ge:g}")
        if self.gt is not None:
            parts.append(f"> {self.gt:g}")
        if self.le is not None:
            parts.append(f"<= {self.le:g}")
        if self.lt is not None:
            parts.append(f"< {self.lt:g}")
        return " and ".join(parts)

    def contains(self, x: float) -> bool:
        return not (
            (self.ge is not None and not x >= self.ge)
            or (self.gt is not None and not x > self.gt)
            or (self.le is not None and not x <= self.le)
            or (self.lt is not None and not x < self.lt)
        )


def bounded(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    min_len: int | None = None,
    max_len: int | None = None,
) -> Any:
    """A dataclass field with a declared range (checked by :func:`check_config`).

    Example: ``lr: float = bounded(1e-3, gt=0)``, ``hidden: tuple[int, ...] = bounded((64,), ge=1, min_len=1)``.
    """
    return dataclasses.field(
        default=default,
        metadata={"range": Range(ge=ge, gt=gt, le=le, lt=lt, min_len=min_len, max_len=max_len)},
    )


def _check_number(x: Any, rng: Range | None, where: str) -> None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return
    if isinstance(x, float) and not math.isfinite(x):
        raise UserInputError(f"{where} = {x!r} is not a finite number")
    if isinstance(x, int) and abs(x) > _INT64:
        raise UserInputError(f"{where} = {x} is too large (beyond a 64-bit integer)")
    if rng is not None and not rng.contains(x):
        raise UserInputError(f"{where} = {x!r} is out of range (must be {rng.describe()})")


def check_config(cfg: Any) -> None:
    """Check declared ranges, finiteness and the ``validate()`` hook of a (nested) config.

    Raises:
        UserInputError: naming the field, its value and the allowed range.
    """
    name = type(cfg).__name__
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        where = f"{name}.{f.name}"
        rng: Range | None = f.metadata.get("range")
        if value is None:
            continue
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_config(value)
        elif isinstance(value, (tuple, list)):
            if rng is not None and rng.min_len is not None and len(value) < rng.min_len:
                raise UserInputError(f"{where} needs at least {rng.min_len} item(s), got {len(value)}")
            if rng is not None and rng.max_len is not None and len(value) > rng.max_len:
                raise UserInputError(f"{where} takes at most {rng.max_len} item(s), got {len(value)}")
            for i, v in enumerate(value):
                _check_number(v, rng, f"{where}[{i}]")
        else:
            _check_number(value, rng, where)
    hook = getattr(cfg, "validate", None)
    if callable(hook):
        try:
            hook()
        except UserInputError:
            raise
        except (TypeError, ValueError) as e:
            raise UserInputError(f"invalid {name}: {e}") from None
