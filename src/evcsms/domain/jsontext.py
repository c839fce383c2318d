"""JSON text with `Decimal` values written as JSON numbers, digit for digit.

The standard encoder knows no Decimal, and going through float would change money
(0.1 + 0.2). Each Decimal is swapped for a marker string, then the marker (with its
quotes) for the number's exact text.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

_MARK = "\u0001dec:"
_MARKED = re.compile(r'"\\u0001dec:(-?[0-9.E+-]+)"')


def dumps(value: Any, *, indent: int | None = 2) -> str:
    return _MARKED.sub(lambda m: m.group(1), json.dumps(_mark(value), indent=indent,
                                                         ensure_ascii=False))


def _mark(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} has no JSON form")
        return _MARK + format(value, "f")
    if isinstance(value, dict):
        return {k: _mark(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mark(v) for v in value]
    return value
