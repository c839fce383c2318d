"""A station's device model: one value per component, variable and attribute type.

2.0.1 reports it in NotifyReport chunks (answering GetBaseReport/GetReport) and answers
GetVariables/SetVariables about parts of it; a 1.6 station's configuration keys
(GetConfiguration, ChangeConfiguration) are kept the same way under the component
`OCPP16_COMPONENT`. These functions turn what the station sent into `Variable`s, the unit
`services.device_model` upserts: a variable's identity is (component, component instance,
EVSE, connector, variable, variable instance, attribute type); a missing instance is "" and
a missing EVSE or connector is 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

OCPP16_COMPONENT = "OCPP16Configuration"
ATTRIBUTE_TYPES = ("Actual", "Target", "MinSet", "MaxSet")


@dataclass(frozen=True, slots=True)
class Variable:
    component: str
    variable: str
    attribute_type: str = "Actual"
    component_instance: str = ""
    evse_id: int = 0
    connector_id: int = 0
    variable_instance: str = ""
    value: str | None = None
    mutability: str | None = None
    persistent: bool | None = None
    constant: bool | None = None
    characteristics: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str, int, int, str, str, str]:
        return (self.component, self.component_instance, self.evse_id, self.connector_id,
                self.variable, self.variable_instance, self.attribute_type)


def _component(component: Mapping[str, Any]) -> dict[str, Any]:
    evse = component.get("evse") or {}
    return {"component": str(component["name"]),
            "component_instance": str(component.get("instance") or ""),
            "evse_id": int(evse.get("id") or 0), "connector_id": int(evse.get("connectorId") or 0)}


def _variable(variable: Mapping[str, Any]) -> dict[str, Any]:
    return {"variable": str(variable["name"]),
            "variable_instance": str(variable.get("instance") or "")}


def from_report(report_data: Iterable[Mapping[str, Any]]) -> list[Variable]:
    """NotifyReport `reportData`: one `Variable` per reported attribute. Within a chunk a
    later entry for the same identity wins."""
    found: dict[tuple[str, str, int, int, str, str, str], Variable] = {}
    for item in report_data:
        where = _component(item["component"]) | _variable(item["variable"])
        characteristics = item.get("variableCharacteristics")
        for attribute in item.get("variableAttribute") or ():
            found_one = Variable(
                **where, attribute_type=str(attribute.get("type") or "Actual"),
                value=attribute.get("value"), mutability=attribute.get("mutability"),
                persistent=attribute.get("persistent"), constant=attribute.get("constant"),
                characteristics=dict(characteristics) if characteristics else None)
            found[found_one.key] = found_one
    return list(found.values())


def from_get_variables(results: Iterable[Mapping[str, Any]]) -> list[Variable]:
    """GetVariables `getVariableResult`: the attributes the station gave (status Accepted)."""
    return [
        Variable(**_component(r["component"]), **_variable(r["variable"]),
                 attribute_type=str(r.get("attributeType") or "Actual"),
                 value=r.get("attributeValue"))
        for r in results if r.get("attributeStatus") == "Accepted"
    ]


def from_set_variables(requested: Sequence[Mapping[str, Any]],
                       results: Iterable[Mapping[str, Any]]) -> list[Variable]:
    """SetVariables: the values the station accepted (`requested` is the sent
    `setVariableData`, matched to each result by component, variable and attribute type)."""
    sent = {_identity(r): r.get("attributeValue") for r in requested}
    changed = []
    for result in results:
        if result.get("attributeStatus") != "Accepted":
            continue
        key = _identity(result)
        if key in sent:
            changed.append(Variable(**_component(result["component"]),
                                    **_variable(result["variable"]),
                                    attribute_type=key[-1], value=sent[key]))
    return changed


def _identity(item: Mapping[str, Any]) -> tuple[Any, ...]:
    where = _component(item["component"]) | _variable(item["variable"])
    return (*where.values(), str(item.get("attributeType") or "Actual"))


def from_configuration(keys: Iterable[Mapping[str, Any]]) -> list[Variable]:
    """1.6 GetConfiguration `configurationKey`: each key as a variable of `OCPP16_COMPONENT`."""
    return [
        Variable(OCPP16_COMPONENT, str(k["key"]), value=k.get("value"),
                 mutability="ReadOnly" if k.get("readonly") else "ReadWrite")
        for k in keys
    ]


def changed_configuration(key: str, value: str) -> Variable:
    """1.6 ChangeConfiguration the station accepted."""
    return Variable(OCPP16_COMPONENT, key, value=value)
