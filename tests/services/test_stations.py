from evcsms.domain.model import Registration
from evcsms.services.stations import Admission, BootInfo, ConnectorStatus
from tests.conftest import T0


async def test_known_station_needs_its_password(services):
    await services.stations.create("CP1", password="correct horse battery")
    assert await services.stations.admit("CP1", "correct horse battery") is Admission.ADMITTED
    assert await services.stations.admit("CP1", "wrong") is Admission.BAD_CREDENTIALS
    assert await services.stations.admit("CP1", None) is Admission.BAD_CREDENTIALS


async def test_unknown_station_rejected_by_default(services):
    assert await services.stations.admit("NOPE", "x") is Admission.UNKNOWN


async def test_pending_policy_registers_unknown_station(services):
    services.stations.unknown_policy = "pending"
    assert await services.stations.admit("NEW1", None) is Admission.ADMITTED
    assert await services.stations.registration("NEW1") is Registration.PENDING


async def test_boot_and_status_are_stored(services):
    await services.stations.create("CP2", password=None)
    result = await services.stations.boot(
        "CP2", BootInfo("ACME", "X1", "SN1", "1.2.3", "PowerUp", "1.6", {"raw": True})
    )
    assert result.registration is Registration.ACCEPTED
    assert result.interval == 60
    await services.stations.connector_status(
        "CP2", ConnectorStatus(1, 1, "Faulted", "GroundFailure"), T0
    )
    row, connectors = await services.stations.get("CP2")
    assert (row.vendor, row.firmware_version, row.ocpp_version) == ("ACME", "1.2.3", "1.6")
    assert [(c.evse_id, c.status, c.error_code) for c in connectors] == [(1, "Faulted", "GroundFailure")]
    assert row.last_boot_at == T0


async def test_nodes_starting_together_create_the_first_operator_once(services) -> None:
    """Every node of a cluster runs ensure_admin(EVCSMS_ADMIN_TOKEN) at start."""
    import asyncio

    token = "cluster-admin-token-0123456789"
    results = await asyncio.gather(*(services.users.ensure_admin(token) for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    assert (await services.users.authenticate(token)).name == "admin"
