"""Fault-rule thresholds set per scope, checked and merged into `faults.Thresholds`.

An operator sets some fields for a scope: "default" (the whole network), "site", "model"
(the station model its BootNotification gives) or "station". A station's thresholds are the
built-in defaults overridden by each scope that applies, in that order, field by field: a
site near a weak grid widens the voltage band for every station there, and a model's
datasheet gives its current rating and temperature limit wherever it stands.

Values come as text or numbers (JSON); windows are whole seconds. `parse` says which field
is wrong and why, and `as_text` gives a `Thresholds` back in the same form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from evcsms.domain.faults import DEFAULTS, Thresholds

SCOPES = ("default", "site", "model", "station")  # from the widest to the narrowest


@dataclass(frozen=True, slots=True)
class Field:
    kind: str  # "int", "decimal" or "seconds"
    low: Decimal
    high: Decimal
    unit: str
    nullable: bool = False


FIELDS: dict[str, Field] = {
    "heartbeat_misses": Field("int", Decimal(1), Decimal(100), "heartbeat intervals"),
    "probe_after": Field("decimal", Decimal("0.5"), Decimal(100), "heartbeat intervals"),
    "flap_disconnects": Field("int", Decimal(2), Decimal(1000), "disconnects"),
    "flap_window": Field("seconds", Decimal(60), Decimal(7 * 86400), "s"),
    "nominal_voltage": Field("decimal", Decimal(1), Decimal(1500), "V"),
    "voltage_tolerance": Field("decimal", Decimal("0.001"), Decimal("0.5"), "fraction"),
    "imbalance_ratio": Field("decimal", Decimal("0.01"), Decimal(1), "fraction"),
    "imbalance_min_current": Field("decimal", Decimal(0), Decimal(1000), "A"),
    "rated_current_a": Field("decimal", Decimal("0.1"), Decimal(2000), "A", nullable=True),
    "over_current_margin": Field("decimal", Decimal(0), Decimal(1), "fraction"),
    "max_temperature": Field("decimal", Decimal(-40), Decimal(200), "Celsius"),
    "frozen_minutes": Field("int", Decimal(1), Decimal(1440), "min"),
    "frozen_power_w": Field("decimal", Decimal(0), Decimal(1_000_000), "W"),
    "failed_session_seconds": Field("int", Decimal(1), Decimal(86400), "s"),
    "silent_failures": Field("int", Decimal(2), Decimal(1000), "sessions"),
    "silent_window": Field("seconds", Decimal(60), Decimal(30 * 86400), "s"),
    "stuck_hours": Field("int", Decimal(1), Decimal(24 * 31), "h"),
    "stuck_idle_hours": Field("int", Decimal(1), Decimal(24 * 31), "h"),
    "reboots": Field("int", Decimal(2), Decimal(1000), "boots"),
    "reboot_window": Field("seconds", Decimal(60), Decimal(7 * 86400), "s"),
}
assert set(FIELDS) == {f.name for f in dataclasses.fields(Thresholds)}, "FIELDS out of date"


class ThresholdError(ValueError):
    """A threshold value that does not fit; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _number(name: str, raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise ThresholdError(name, f"expected a number, got {raw!r}")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ThresholdError(name, f"expected a number, got {raw!r}") from None
    if not value.is_finite():
        raise ThresholdError(name, f"expected a finite number, got {raw!r}")
    return value


def parse(values: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of one scope, checked and typed as `Thresholds` holds them."""
    out: dict[str, Any] = {}
    for name, raw in values.items():
        spec = FIELDS.get(name)
        if spec is None:
            raise ThresholdError(name, f"unknown threshold; known: {', '.join(FIELDS)}")
        if raw is None:
            if not spec.nullable:
                raise ThresholdError(name, "cannot be null")
            out[name] = None
            continue
        value = _number(name, raw)
        if spec.kind in ("int", "seconds") and value != value.to_integral_value():
            raise ThresholdError(name, f"expected a whole number of {spec.unit}, got {raw!r}")
        if not spec.low <= value <= spec.high:
            raise ThresholdError(name, f"must be from {spec.low} to {spec.high} {spec.unit}, "
                                       f"got {raw!r}")
        if spec.kind == "int":
            out[name] = int(value)
        elif spec.kind == "seconds":
            out[name] = timedelta(seconds=int(value))
        else:
            out[name] = value
    return out


def merge(layers: Sequence[Mapping[str, Any]], base: Thresholds = DEFAULTS) -> Thresholds:
    """`base` overridden by each parsed layer in turn (widest scope first)."""
    changes: dict[str, Any] = {}
    for layer in layers:
        changes.update(layer)
    return dataclasses.replace(base, **changes) if changes else base


def as_text(t: Thresholds) -> dict[str, str | None]:
    """Every field as the API shows it: numbers as text, windows in seconds."""
    out: dict[str, str | None] = {}
    for name in FIELDS:
        value = getattr(t, name)
        if value is None:
            out[name] = None
        elif isinstance(value, timedelta):
            out[name] = str(int(value.total_seconds()))
        else:
            out[name] = str(value)
    return out


@dataclass(frozen=True, slots=True)
class ThresholdBook:
    """Every scope's parsed overrides, keyed by (scope, scope_id); default's id is ""."""

    layers: Mapping[tuple[str, str], Mapping[str, Any]]

    def _applying(self, station_id: str, site_id: str | None,
                  model: str | None) -> list[tuple[str, Mapping[str, Any]]]:
        keys = [("default", ""), ("site", site_id), ("model", model), ("station", station_id)]
        return [(scope, self.layers[(scope, ref)]) for scope, ref in keys
                if ref is not None and (scope, ref) in self.layers]

    def for_station(self, station_id: str, site_id: str | None = None,
                    model: str | None = None) -> Thresholds:
        return merge([layer for _, layer in self._applying(station_id, site_id, model)])

    def sources(self, station_id: str, site_id: str | None = None,
                model: str | None = None) -> dict[str, str]:
        """Which scope each field's value comes from ("builtin" when none sets it)."""
        out = dict.fromkeys(FIELDS, "builtin")
        for scope, layer in self._applying(station_id, site_id, model):
            out.update(dict.fromkeys(layer, scope))
        return out

    def widest(self, name: str) -> Any:
        """The largest value any scope gives `name` (or the default): to size look-back
        windows that must cover every station."""
        values = [getattr(DEFAULTS, name)] + [
            layer[name] for layer in self.layers.values() if layer.get(name) is not None]
        return max(values)


EMPTY = ThresholdBook({})
