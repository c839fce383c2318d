"""Serve a command request from the bus for a station connected here: translate, CALL, report."""

from __future__ import annotations

import logging
from typing import Any

from evcsms.bus.base import Message
from evcsms.domain.commands import CommandName, CommandParamsError, answer_accepted
from evcsms.domain.model import CommandStatus, OcppVersion
from evcsms.gateway.session import CallErrorReceivedError, InvalidAnswerError, StationSession
from evcsms.protocol.v16.commands import to_call as to_call_v16
from evcsms.protocol.v201.commands import to_call as to_call_v201
from evcsms.services.commands import CommandOutcome

log = logging.getLogger(__name__)

TRANSLATE = {OcppVersion.V16: to_call_v16, OcppVersion.V201: to_call_v201}


async def execute(session: StationSession, message: Message, timeout_s: float) -> Message:
    """Run one command on `session`; always answers with an outcome, never raises."""
    command_id: str = message["id"]
    try:
        action, payload = TRANSLATE[session.version](CommandName(message["name"]), message["params"])
    except (CommandParamsError, ValueError, KeyError) as exc:
        return CommandOutcome(CommandStatus.FAILED, error=f"cannot translate: {exc}").to_message()
    await session.services.commands.mark_sent(command_id, action, payload)
    return (await _perform(session, action, payload, timeout_s)).to_message()


async def _perform(
    session: StationSession, action: str, payload: dict[str, Any], timeout_s: float
) -> CommandOutcome:
    def outcome(status: CommandStatus, **kw: Any) -> CommandOutcome:
        return CommandOutcome(status, action, payload, **kw)

    try:
        answer = await session.call(action, payload, timeout_s)
    except TimeoutError:
        return outcome(CommandStatus.TIMED_OUT, error=f"no answer within {timeout_s:g} s")
    except CallErrorReceivedError as exc:
        return outcome(CommandStatus.FAILED, response={"code": exc.code, "description": exc.description},
                       error=f"station answered CALLERROR {exc.code}: {exc.description}")
    except InvalidAnswerError as exc:
        return outcome(CommandStatus.FAILED, error=str(exc))
    except ConnectionError:
        return outcome(CommandStatus.FAILED, error="station disconnected before answering")
    status = CommandStatus.ACCEPTED if answer_accepted(answer) else CommandStatus.REJECTED
    return outcome(status, response=answer)


async def probe(session: StationSession, timeout_s: float) -> Message:
    """Ping the station's socket: alive (and seen now), or not (and the socket is closed, so
    the node records the disconnect); alive None when this server cannot ping."""
    if session.ping is None:
        return {"alive": None, "error": "this server cannot send WebSocket pings"}
    rtt = await session.ping(timeout_s)
    if rtt is not None:
        session.services.presence.touch(session.station_id)
        return {"alive": True, "rtt_ms": round(rtt * 1000, 2)}
    log.warning("%s did not answer a ping within %g s; closing its socket",
                session.station_id, timeout_s)
    if session.abort is not None:
        await session.abort("no answer to a ping")
    return {"alive": False}
