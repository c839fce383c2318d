"""Site load management, pure and stdlib only: the electrical tree, sessions and limits in,
a setpoint per EVSE out (docs/load-management.md).

Public surface: the model (`Site`, `Circuit`, `Evse`, `Schedule`, `Window`, `Demand`,
`Pin`, `Allocation`, `Setpoint`, `NodeUsage`, `Bound` and the enums), `allocate`,
`failsafe`, the schedule readers (`limit_at`, `load_at`, `next_change`) and the JSON-able
dict converters (`site_from_dict` and friends).
"""

from evcsms.domain.load.allocation import HEADROOM_A, SETTLE, allocate, failsafe
from evcsms.domain.load.model import (
    Allocation,
    Bound,
    Circuit,
    Demand,
    Evse,
    Kind,
    LoadError,
    NodeUsage,
    Phase,
    Pin,
    Policy,
    Reason,
    Schedule,
    Setpoint,
    Site,
    Unit,
    Window,
)
from evcsms.domain.load.parse import (
    allocation_to_dict,
    demand_from_dict,
    demand_to_dict,
    pin_from_dict,
    pin_to_dict,
    setpoint_to_dict,
    site_from_dict,
    site_to_dict,
)
from evcsms.domain.load.schedule import limit_at, load_at, next_change

__all__ = [
    "HEADROOM_A", "SETTLE", "Allocation", "Bound", "Circuit", "Demand", "Evse", "Kind",
    "LoadError", "NodeUsage", "Phase", "Pin", "Policy", "Reason", "Schedule", "Setpoint",
    "Site", "Unit", "Window", "allocate", "allocation_to_dict", "demand_from_dict",
    "demand_to_dict", "failsafe", "limit_at", "load_at", "next_change", "pin_from_dict",
    "pin_to_dict", "setpoint_to_dict", "site_from_dict", "site_to_dict",
]
