"""Small helpers shared by the reference servers (not part of the evcsms package).

Kept dependency-free beyond what the venv already has: the event loop is uvloop when it
is importable (``--loop auto``), otherwise asyncio's default loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
from collections.abc import Callable, Coroutine
from typing import Any

OCPP_SUBPROTOCOLS = ("ocpp1.6", "ocpp2.0.1")
OCPP_PATH_PREFIX = "/ocpp/"
LISTEN_BACKLOG = 4096


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


def server_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="listen address (loopback only)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="event loop: uvloop if importable (auto), or force one",
    )
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("reference servers listen on loopback only")
    return args


def loop_factory(choice: str) -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """Return (factory for asyncio.Runner, name to print in the banner)."""
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
        else:
            return uvloop.new_event_loop, f"uvloop {uvloop.__version__}"  # type: ignore[attr-defined]
    return None, "asyncio (default loop)"


def run(main: Callable[[str], Coroutine[Any, Any, None]], loop_choice: str) -> None:
    """Run ``main(loop_name)`` on the chosen loop until interrupted (SIGTERM just exits)."""
    factory, name = loop_factory(loop_choice)
    with asyncio.Runner(loop_factory=factory) as runner, contextlib.suppress(KeyboardInterrupt):
        runner.run(main(name))


def station_id(path: str) -> str | None:
    """``/ocpp/CP1`` -> ``CP1``; None when the path is not a station URL."""
    if not path.startswith(OCPP_PATH_PREFIX):
        return None
    ident = path[len(OCPP_PATH_PREFIX) :].split("?", 1)[0].strip("/")
    return ident or None


async def serve_forever(handler: Callable[..., Any], host: str, port: int, banner: str) -> None:
    """Listen like every reference server does (both subprotocols, no compression, a deep
    backlog), print `ready <banner> ... nofile=N` once listening, then serve."""
    from websockets.asyncio.server import serve
    from websockets.typing import Subprotocol

    nofile = raise_nofile_limit()
    async with serve(
        handler, host, port, subprotocols=[Subprotocol(p) for p in OCPP_SUBPROTOCOLS],
        compression=None, backlog=LISTEN_BACKLOG,
    ) as server:
        print(f"ready {banner} on ws://{host}:{port}/ocpp/{{id}} nofile={nofile}", flush=True)
        await server.serve_forever()
