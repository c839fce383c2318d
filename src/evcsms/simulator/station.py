"""A virtual OCPP charging station: boot, heartbeats, charging connectors, remote commands,
reconnects (round robin over several CSMS addresses), transaction-related messages re-sent
as OCPP says, and injected faults (`inject` / `clear_fault`, see `simulator.faults`)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from websockets.exceptions import WebSocketException

from evcsms.simulator.client import (
    CallErrorReceived,
    ConnectionLost,
    JsonObject,
    OcppClient,
    refusal_delay,
)
from evcsms.simulator.connector import (
    Connector,
    ConnectorRunner,
    PlugIn,
    SessionPattern,
    wait_event,
)
from evcsms.simulator.control import DEFAULT_MAX_PROFILES, DEFAULT_MAX_STACK_LEVEL, RemoteControl
from evcsms.simulator.faults import Fault, FaultDriver, Injection, ParamValue
from evcsms.simulator.handlers import Configuration, handlers_16, handlers_201
from evcsms.simulator.messages import Clock, dialect_for, iso, utc_now
from evcsms.simulator.meter import Offer, Profile
from evcsms.simulator.stats import Acknowledged, FleetStats

log = logging.getLogger(__name__)

DEFAULT_ID_TAGS = ("SIMTAG01", "SIMTAG02", "SIMTAG03", "SIMTAG04", "SIMTAG05")
DEFAULT_HEARTBEAT = 300.0
DEFAULT_TX_ATTEMPTS = 5  # TransactionMessageAttempts / MessageAttemptsTransactionEvent
DEFAULT_TX_INTERVAL = 2.0  # s: TransactionMessageRetryInterval / MessageAttemptInterval...
MAX_RETRY_AFTER = 600.0  # s: the longest Retry-After of a refusing CSMS the station honours

# configuration keys of the retry of transaction-related messages: (attempts, interval)
TX_RETRY_KEYS = {
    "1.6": ("TransactionMessageAttempts", "TransactionMessageRetryInterval"),
    "2.0.1": (
        "OCPPCommCtrlr.MessageAttemptsTransactionEvent",
        "OCPPCommCtrlr.MessageAttemptIntervalTransactionEvent",
    ),
}


def transaction_related(action: str, payload: JsonObject) -> bool:
    """Messages OCPP re-sends when the CSMS fails to process them: 1.6 Start/StopTransaction
    and MeterValues of a transaction, 2.0.1 TransactionEvent."""
    if action in ("StartTransaction", "StopTransaction", "TransactionEvent"):
        return True
    return action == "MeterValues" and payload.get("transactionId") is not None


@dataclass(frozen=True)
class _Reboot:
    stop_reason: str  # sessions end with this reason
    boot_reason: str  # the next BootNotification's reason
    inj: Injection | None = None  # a boot loop to tell when the boot is accepted


class VirtualStation:
    """One simulated charging station speaking OCPP 1.6J or 2.0.1 to ``f"{url}/{station_id}"``.

    ``url`` may be several CSMS addresses (a station behind a load balancer, or with backup
    addresses): it connects to the first that answers and, when a connect fails (an HTTP 503
    refusal too, waiting at least its ``Retry-After``) or the connection is lost, moves on
    to the next, round robin, backing off with jitter once every address failed in a row.

    Transaction-related messages (1.6 Start/StopTransaction and MeterValues with a
    transactionId, 2.0.1 TransactionEvent) answered with a CALLERROR or not at all are sent
    again, up to ``tx_attempts`` times, ``tx_retry_interval`` x the attempts so far apart
    (configuration keys TransactionMessageAttempts / TransactionMessageRetryInterval, in
    2.0.1 OCPPCommCtrlr MessageAttemptsTransactionEvent / MessageAttemptIntervalTransactionEvent);
    a message whose connection drops is sent again on the next one without counting. With
    ``keep_journal`` the station keeps ``journal``: every transaction-related message the
    CSMS acknowledged, with its answer.

    ``run()`` (or ``start()``) keeps it connected until ``stop()``; randomness comes from
    ``rng`` (or ``seed``) and timestamps from ``now`` so runs are reproducible.
    ``inject(fault, connector, **params)`` makes it misbehave until ``clear_fault``.
    Charging profiles the CSMS sets limit what its cars draw (see `simulator.control`);
    ``max_current_a`` is each connector's rating (A per phase), the limit a composite
    schedule reports when no profile sets one; the cars' own maximum is the pattern's
    ``max_current_a`` (or ``start_session(max_current_a=...)``).
    """

    def __init__(
        self,
        url: str | Sequence[str],
        station_id: str,
        ocpp_version: str = "1.6",
        *,
        password: str | None = None,
        connectors: int = 2,
        meter_interval: float = 10.0,
        time_scale: float = 1.0,
        pattern: SessionPattern | None = None,
        rng: random.Random | None = None,
        seed: int = 0,
        fault_probability: float = 0.0,
        id_tags: Sequence[str] | None = None,
        now: Clock = utc_now,
        stats: FleetStats | None = None,
        call_timeout: float = 30.0,
        reconnect_base: float = 1.0,
        reconnect_cap: float = 30.0,
        boot_retry_cap: float = 5.0,
        stop_grace: float = 5.0,
        ping_interval: float | None = 20.0,
        max_current_a: float = 32.0,
        tx_attempts: int = DEFAULT_TX_ATTEMPTS,
        tx_retry_interval: float = DEFAULT_TX_INTERVAL,
        keep_journal: bool = False,
    ) -> None:
        self.urls: tuple[str, ...] = (url,) if isinstance(url, str) else tuple(url)
        if not self.urls:
            raise ValueError("a station needs at least one CSMS url")
        if tx_attempts < 1 or tx_retry_interval < 0:
            raise ValueError("tx_attempts must be >= 1 and tx_retry_interval >= 0")
        self._url_index = 0
        self.station_id, self.ocpp_version = station_id, ocpp_version
        self.tx_attempts, self.tx_retry_interval = tx_attempts, tx_retry_interval
        self.keep_journal = keep_journal
        self.journal: list[Acknowledged] = []  # acknowledged transaction-related messages
        self.password = password
        self.dialect = dialect_for(ocpp_version)
        self.rng = rng if rng is not None else random.Random(seed)  # noqa: S311 - simulation, not crypto
        self.now = now
        self.stats = stats if stats is not None else FleetStats()
        self.meter_interval = meter_interval
        self.time_scale = time_scale  # simulated seconds per real second (energy only)
        self.pattern = pattern or SessionPattern()
        self.id_tags: Sequence[str] = tuple(id_tags or DEFAULT_ID_TAGS)
        self.fault_probability = fault_probability
        self.max_current_a = max_current_a  # each connector's rating, A per phase
        self.heartbeat_interval = DEFAULT_HEARTBEAT
        self.call_timeout, self.ping_interval = call_timeout, ping_interval
        self.reconnect_base, self.reconnect_cap = reconnect_base, reconnect_cap
        self.boot_retry_cap, self.stop_grace = boot_retry_cap, stop_grace
        self.connectors = [
            Connector(n, register_wh=float(self.rng.randrange(0, 2_000_000)))
            for n in range(1, connectors + 1)
        ]
        self.runners = [ConnectorRunner(c, self) for c in self.connectors]
        self.config = self._make_config()
        self.control = RemoteControl(self)
        build = handlers_16 if ocpp_version == "1.6" else handlers_201
        self._handlers = build(self.control)
        self._client: OcppClient | None = None
        self._online: OcppClient | None = None
        self._cond = asyncio.Condition()
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._done.set()
        self._stopping = False
        self._reset: _Reboot | None = None
        self._ever_connected = self._ever_booted = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None
        self._generation = 0  # times the station came online (booted or resumed)
        self._link_held: set[Injection] = set()  # injected faults keeping the link down
        self._drops: list[Injection] = []  # ... to tell when the link is down
        self._hung = False
        self._event_ids = itertools.count(1)
        self.faults = FaultDriver(self)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The CSMS address the station is connected to (or tries next)."""
        return self.urls[self._url_index]

    @property
    def booted(self) -> bool:
        return self._online is not None

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def accepting_sessions(self) -> bool:
        return (
            self._online is not None
            and not self._stopping
            and self._reset is None
            and self.faults.station_code is None
        )

    @property
    def generation(self) -> int:
        """How many times the station has come online (booted, or back after a link drop)."""
        return self._generation

    @property
    def authorize_remote(self) -> bool:
        return self.config.get("AuthorizeRemoteTxRequests") == "true"

    def start(self) -> None:
        """Run the station in a task owned by this object (ended by ``stop``)."""
        if self._main is None or self._main.done():
            self._main = asyncio.create_task(self.run(), name=f"station-{self.station_id}")

    async def run(self) -> None:
        """Connect, boot and serve until ``stop()``; reconnects on its own."""
        self._done.clear()
        for runner in self.runners:
            self._tasks.add(
                asyncio.create_task(
                    runner.run(), name=f"{self.station_id}-c{runner.conn.connector_id}"
                )
            )
        try:
            await self._connection_loop()
        finally:
            await self.faults.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()
            if self._client is not None:
                await self._go_offline(self._client)
            self._done.set()

    async def stop(self) -> None:
        """End open sessions (reason Local) while connected, then disconnect."""
        await self.set_hung(False)
        self._stopping = True
        self._wake.set()
        for c in self.connectors:
            c.wake.set()
        if self._main is not None:
            await asyncio.gather(self._main, return_exceptions=True)
        await self._done.wait()

    # -- connection --------------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        attempt, reason = 0, "PowerUp"
        resume, boot_mark = False, None
        failed, wait_at_least = 0, 0.0  # addresses refused in a row; the longest Retry-After
        while not self._stopping:
            if self._link_held:  # an injected fault keeps the station away
                self._mark_drops()
                self._wake.clear()
                await self._wake.wait()
                continue
            client, retry_after = await self._connect()
            if client is None:
                self._next_url()
                failed += 1
                wait_at_least = max(wait_at_least, retry_after or 0.0)
                if failed < len(self.urls):
                    continue  # another address may answer: try it at once
                await self._backoff(attempt, wait_at_least)
                failed, wait_at_least = 0, 0.0
                attempt += 1
                continue
            failed, wait_at_least = 0, 0.0
            try:
                outcome = await self._online_phase(client, reason, resume, boot_mark)
            except (ConnectionLost, TimeoutError):
                outcome = "lost"
            if outcome == "drop":  # the injected drop is marked as the socket closes
                self._mark_drops()
            was_online = await self._go_offline(client)
            resume, boot_mark = False, None
            if outcome == "reset" and self._reset is not None:
                attempt, reason, boot_mark = 0, self._reset.boot_reason, self._reset.inj
                self._reset = None
            elif outcome == "drop":  # the link went down; the station did not restart
                attempt, resume = 0, True
            elif outcome == "lost" and not self._stopping:
                self.stats.reconnects += 1
                attempt, reason = (0 if was_online else attempt), "Unknown"
                self._next_url()  # the CSMS there may be gone: the next address
                await self._backoff(attempt)
                attempt += 1

    def _mark_drops(self) -> None:
        for inj in self._drops:
            inj.mark("drop")
        self._drops.clear()

    def _next_url(self) -> None:
        if len(self.urls) > 1:
            self._url_index = (self._url_index + 1) % len(self.urls)
            self.stats.failovers += 1

    async def _connect(self) -> tuple[OcppClient | None, float | None]:
        """A connection to the current address; or None and the refusal's Retry-After."""
        client = OcppClient(
            self.url,
            self.station_id,
            self.ocpp_version,
            password=self.password,
            handlers=self._handlers,
            call_timeout=self.call_timeout,
            ping_interval=self.ping_interval,
            on_close=self._wake.set,
        )
        try:
            await client.connect()
        except (OSError, TimeoutError, WebSocketException) as exc:
            log.info("%s: connect to %s failed: %s", self.station_id, self.url, exc)
            self.stats.connect_failures += 1
            retry_after = refusal_delay(exc)
            if retry_after is not None:
                self.stats.refusals += 1
            return None, retry_after
        self._client = client
        if not self._ever_connected:
            self._ever_connected = True
            self.stats.connected += 1
        return client, None

    async def _backoff(self, attempt: int, at_least: float = 0.0) -> None:
        """Wait before the next connect: exponential with jitter, and at least ``at_least``
        (a refusing CSMS's Retry-After)."""
        delay = min(self.reconnect_cap, self.reconnect_base * 2 ** min(attempt, 16))
        delay *= self.rng.uniform(0.5, 1.0)
        delay = max(delay, min(at_least, MAX_RETRY_AFTER))
        self._wake.clear()
        if not self._stopping:
            await wait_event(self._wake, delay)

    async def _go_offline(self, client: OcppClient) -> bool:
        async with self._cond:
            was_online = self._online is client
            if was_online:
                self._online = None
                self.stats.online -= 1
            if self._client is client:
                self._client = None
            self._cond.notify_all()
        await client.close()
        return was_online

    async def _online_phase(
        self,
        client: OcppClient,
        reason: str,
        resume: bool = False,
        boot_mark: Injection | None = None,
    ) -> str:
        if not (resume and self._ever_booted) and not await self._boot(client, reason, boot_mark):
            return "stop"
        code = self.faults.station_code
        if code is not None:  # a 1.6 station-wide fault is on connector 0
            await self._call(client, *self.dialect.status(0, "Faulted", code, iso(self.now())))
        for c in self.connectors:
            shown = self.dialect.connector_status(c.status)
            await self._call(
                client, *self.dialect.status(c.connector_id, shown, c.error_code, iso(self.now()))
            )
            c.reported = shown
        async with self._cond:
            self._online = client
            self._generation += 1
            self.stats.online += 1
            self._cond.notify_all()
        return await self._serve(client)

    async def _boot(
        self, client: OcppClient, reason: str, boot_mark: Injection | None = None
    ) -> bool:
        """BootNotification until Accepted (True); False if the station is stopped meanwhile."""
        if boot_mark is not None:
            boot_mark.mark("boot")  # a boot of a boot loop: its first BootNotification goes now
        while not self._stopping:
            resp = (
                await self._call(client, *self.dialect.boot(reason, f"SN-{self.station_id}")) or {}
            )
            interval = resp.get("interval", 0)
            interval = interval if isinstance(interval, int) else 0
            if resp.get("status") == "Accepted":
                self.accept_boot(interval)
                return True
            self._wake.clear()
            if not self._stopping:
                await wait_event(self._wake, min(max(float(interval), 1.0), self.boot_retry_cap))
            if not client.connected:
                raise ConnectionLost(f"{self.station_id}: closed while waiting to boot")
        return False

    def accept_boot(self, interval: int) -> None:
        self.heartbeat_interval = float(interval) if interval > 0 else DEFAULT_HEARTBEAT
        self.config.values["HeartbeatInterval"] = str(int(self.heartbeat_interval))
        if not self._ever_booted:
            self._ever_booted = True
            self.stats.booted += 1

    async def _serve(self, client: OcppClient) -> str:
        """Heartbeats until the connection drops, a reset or an injected link drop is
        requested, or the station stops."""
        while True:
            if self._stopping:
                await self._end_sessions("Local")
                return "stop"
            if self._reset is not None:
                await self._end_sessions(self._reset.stop_reason)
                return "reset"
            if self._link_held:
                return "drop"
            if not client.connected:
                return "lost"
            woke = await wait_event(self._wake, self.heartbeat_interval)
            self._wake.clear()
            if not woke and not self._hung:
                await self._call(client, *self.dialect.heartbeat())

    async def end_sessions(self, reason: str) -> None:
        """Stop every running session with ``reason`` and wait (at most ``stop_grace``)."""
        await self._end_sessions(reason)

    async def _end_sessions(self, reason: str) -> None:
        busy = [c for c in self.connectors if not c.idle.is_set()]
        for c in busy:
            c.request_stop(reason)
        try:
            async with asyncio.timeout(self.stop_grace):
                for c in busy:
                    await c.idle.wait()
        except TimeoutError:
            log.warning("%s: sessions did not end within %.1fs", self.station_id, self.stop_grace)

    # -- sending ---------------------------------------------------------------------------------

    async def _call(
        self, client: OcppClient, action: str, payload: JsonObject
    ) -> JsonObject | None:
        """One CALL on a given connection; CALLERROR/timeout -> None, ConnectionLost propagates."""
        self.stats.messages_sent += 1
        try:
            return await client.call(action, payload)
        except (CallErrorReceived, TimeoutError) as exc:
            self.stats.call_errors += 1
            log.info("%s: %s failed: %r", self.station_id, action, exc)
            return None

    async def wait_online(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self._online is not None)

    async def send(self, action: str, payload: JsonObject) -> JsonObject | None:
        """CALL once booted; if the connection drops, wait for the next one and send again.

        A transaction-related message that gets a CALLERROR or no answer is sent again, up
        to ``tx_attempts`` times in all, ``tx_retry_interval`` x (attempts so far) apart;
        None if it never got through (or, for any other message, if it failed once)."""
        if not transaction_related(action, payload):
            return await self._deliver(action, payload)
        attempts = 0
        while True:
            attempts += 1
            answer = await self._deliver(action, payload)
            if answer is not None:
                if self.keep_journal:
                    self.journal.append(Acknowledged(
                        self.station_id, action, payload, answer, attempts, time.monotonic()))
                return answer
            if attempts >= self.tx_attempts:
                self.stats.tx_dropped += 1
                log.warning("%s: %s not processed after %d attempts; dropped",
                            self.station_id, action, attempts)
                return None
            self.stats.tx_retries += 1
            await asyncio.sleep(self.tx_retry_interval * attempts)

    async def _deliver(self, action: str, payload: JsonObject) -> JsonObject | None:
        """One CALL answered (or failed) on whichever connection is up; a lost connection
        does not count: the CALL goes again on the next one."""
        failed: OcppClient | None = None
        while True:
            client = await self._next_online(failed)
            if failed is not None:
                self.stats.resent += 1
            try:
                return await self._call(client, action, payload)
            except ConnectionLost:
                failed = client

    async def _next_online(self, failed: OcppClient | None) -> OcppClient:
        """The booted connection, waiting for one other than ``failed`` (and for an injected
        hang to end)."""
        async with self._cond:
            await self._cond.wait_for(
                lambda: self._online is not None and self._online is not failed and not self._hung
            )
            assert self._online is not None
            return self._online

    async def wait_generation(self, seen: int) -> None:
        """Wait until the station is online again after generation ``seen``."""
        async with self._cond:
            await self._cond.wait_for(lambda: self._generation > seen and self._online is not None)

    # -- used by the remote control ------------------------------------------------------------

    def request_reset(self, kind: str) -> None:
        self.reboot(kind, "RemoteReset")

    def reboot(self, stop_reason: str, boot_reason: str, inj: Injection | None = None) -> None:
        """End the sessions with ``stop_reason``, reconnect and boot with ``boot_reason``."""
        self._reset = _Reboot(stop_reason, boot_reason, inj)
        self._wake.set()

    async def call_now(self, action: str, payload: JsonObject) -> JsonObject | None:
        """CALL on the current connection even before boot is accepted (triggered messages)."""
        client = self._client
        if client is None:
            return None
        try:
            return await self._call(client, action, payload)
        except ConnectionLost:
            return None

    # -- injected faults --------------------------------------------------------------------------

    def inject(
        self, fault: Fault | str, connector: int | None = None, **params: ParamValue
    ) -> Injection:
        """Make the station misbehave (see `simulator.faults.FAULTS`) until ``clear_fault``.

        Returns at once; the Injection's ``events`` tell when the symptoms were sent.
        ``connector`` is for connector faults (default 1; 0 is the whole station for
        ``connector_fault``); station-wide faults take none. Injecting a fault that is
        already active clears it first.
        """
        return self.faults.inject(fault, connector, params)

    def clear_fault(self, fault: Fault | str, connector: int | None = None) -> Injection | None:
        """End an injected fault (the station recovers); None if it was not active."""
        return self.faults.clear(fault, connector)

    def clear_faults(self) -> list[Injection]:
        return self.faults.clear_all()

    @property
    def active_faults(self) -> list[Injection]:
        return self.faults.active()

    def start_session(
        self, connector: int = 1, id_tag: str | None = None, *, phases: int | None = None,
        max_current_a: float | None = None,
    ) -> bool:
        """A driver plugs in at ``connector`` (a local start) with a car charging on
        ``phases`` at up to ``max_current_a`` per phase (None: as the pattern says); False
        if the connector is not free (or reserved for another idTag)."""
        c = self.connectors[connector - 1]
        tag = id_tag or self.rng.choice(self.id_tags)
        if not c.free_for(tag) or not self.accepting_sessions:
            return False
        c.pending_start = PlugIn(tag, phases=phases, max_current_a=max_current_a)
        c.wake.set()
        return True

    # -- charging profiles and reservations -------------------------------------------------------

    def offer(self, connector_id: int) -> Offer | None:
        """What the charging profiles let the car at ``connector_id`` draw now (None: any)."""
        return self.control.smart.offers(self.now()).get(connector_id)

    def transaction_ended(self, connector_id: int) -> None:
        self.control.smart.transaction_ended(connector_id)

    @property
    def charging_profiles(self) -> list[tuple[int, Profile]]:
        """The installed profiles: (connector, profile), connector 0 for the station."""
        return [(i.evse, i.profile) for i in self.control.smart.installed.values()]

    def stop_session(self, connector: int = 1, reason: str = "Local") -> bool:
        """End the session at ``connector`` with ``reason``; False if none runs."""
        c = self.connectors[connector - 1]
        if c.session is None:
            return False
        c.request_stop(reason)
        return True

    def hold_link(self, inj: Injection) -> None:
        """Drop the WebSocket (if up) and stay away until ``release_link``."""
        self._link_held.add(inj)
        self._drops.append(inj)
        self._wake.set()

    def release_link(self, inj: Injection) -> None:
        self._link_held.discard(inj)
        if inj in self._drops:
            self._drops.remove(inj)
        self._wake.set()

    async def set_hung(self, hung: bool) -> None:
        """Hang with the WebSocket open (True): send nothing and read nothing, so pings go
        unanswered; or come back to life (False)."""
        async with self._cond:
            if hung == self._hung:
                return
            self._hung = hung
            self._cond.notify_all()
        ws = self._client._ws if self._client is not None else None  # the current socket
        if ws is None:
            return
        if hung:
            ws.transport.pause_reading()
            if ws.keepalive_task is not None:  # our own pings would time out and close it
                ws.keepalive_task.cancel()
        else:
            ws.transport.resume_reading()  # if the CSMS closed it meanwhile, we notice now

    def next_event_id(self) -> int:
        return next(self._event_ids)

    # -- configuration ----------------------------------------------------------------------------

    def _make_config(self) -> Configuration:
        values = {
            "HeartbeatInterval": str(int(self.heartbeat_interval)),
            "MeterValueSampleInterval": f"{self.meter_interval:g}",
            "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage",
            "NumberOfConnectors": str(len(self.connectors)),
            "AuthorizeRemoteTxRequests": "false",
            "StopTransactionOnInvalidId": "true",
            "ChargeProfileMaxStackLevel": str(DEFAULT_MAX_STACK_LEVEL),
            "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
            "ChargingScheduleMaxPeriods": "24",
            "MaxChargingProfilesInstalled": str(DEFAULT_MAX_PROFILES),
            "ReserveConnectorZeroSupported": "true",
        }
        attempts_key, interval_key = TX_RETRY_KEYS[self.ocpp_version]
        values[attempts_key] = str(self.tx_attempts)
        values[interval_key] = f"{self.tx_retry_interval:g}"
        readonly = frozenset({
            "NumberOfConnectors", "ChargeProfileMaxStackLevel",
            "ChargingScheduleAllowedChargingRateUnit", "ChargingScheduleMaxPeriods",
            "MaxChargingProfilesInstalled", "ReserveConnectorZeroSupported",
        })
        return Configuration(values, readonly, self._apply_config)

    def _set_heartbeat(self, seconds: float) -> None:
        self.heartbeat_interval = seconds
        self._wake.set()  # restart the heartbeat wait with the new interval

    def _apply_config(self, key: str, value: str) -> bool:
        attempts_key, interval_key = TX_RETRY_KEYS[self.ocpp_version]
        if key == attempts_key:
            return self._set_tx_retry(value, attempts=True)
        if key == interval_key:
            return self._set_tx_retry(value, attempts=False)
        numeric: dict[str, Callable[[float], None]] = {
            "HeartbeatInterval": self._set_heartbeat,
            "MeterValueSampleInterval": lambda v: setattr(self, "meter_interval", v),
        }
        if key not in numeric:
            return True
        try:
            number = float(value)
        except ValueError:
            return False
        if number <= 0:
            return False
        numeric[key](number)
        return True

    def _set_tx_retry(self, value: str, *, attempts: bool) -> bool:
        """TransactionMessageAttempts (a whole number >= 1) or ...RetryInterval (s >= 0)."""
        try:
            number = float(value)
        except ValueError:
            return False
        if attempts:
            if number < 1 or number != int(number):
                return False
            self.tx_attempts = int(number)
        else:
            if not 0 <= number < float("inf"):
                return False
            self.tx_retry_interval = number
        return True
