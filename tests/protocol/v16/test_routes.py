import pkgutil

import evcsms.protocol.v16 as v16
from evcsms.domain.model import OcppVersion
from evcsms.protocol.v16.routes import ROUTES
from evcsms.protocol.validation import known_action

HELPERS = {"commands", "id_tag", "routes"}


def test_every_routed_action_is_a_1_6_action():
    assert all(known_action(OcppVersion.V16, action) for action in ROUTES)


def test_every_handler_module_is_routed_under_its_action():
    modules = {m.name for m in pkgutil.iter_modules(v16.__path__)} - HELPERS
    routed = {handler.__module__.rsplit(".", 1)[1]: action for action, handler in ROUTES.items()}
    assert set(routed) == modules
    for module, action in routed.items():
        assert module.replace("_", "") == action.lower()
