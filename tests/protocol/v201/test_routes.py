import pkgutil
from importlib import import_module

import evcsms.protocol.v201 as package
from evcsms.domain.model import OcppVersion
from evcsms.protocol.v201.routes import ROUTES
from evcsms.protocol.validation import known_action
from tests.protocol.v201 import action_of


def _handler_modules():
    for info in pkgutil.iter_modules(package.__path__):
        module = import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "handle"):
            yield module


def test_every_handler_module_is_routed_under_its_action():
    modules = list(_handler_modules())
    assert len(modules) == len(ROUTES)
    for module in modules:
        assert ROUTES[action_of(module)] is module.handle


def test_every_route_is_a_2_0_1_action():
    assert all(known_action(OcppVersion.V201, action) for action in ROUTES)
