"""Reference server 1: the ceiling of a Python node.

A bare ``websockets`` server that parses every frame as JSON and answers each CALL with
``[3, id, {}]`` -- no schema validation, no routing, no persistence. Whatever evcsms does on
top of this costs throughput; the benchmark reports evcsms as a fraction of this figure.

    python benchmarks/ref_bare_server.py --port 9000

Stations connect to ``ws://127.0.0.1:9000/ocpp/{station_id}`` with subprotocol ocpp1.6 or
ocpp2.0.1. Prints one ``ready`` line once listening.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from _common import (
    run,
    serve_forever,
    server_args,
    station_id,
)
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

CALL = 2


def _json_codec() -> tuple[Callable[[str | bytes], Any], Callable[[Any], bytes], str]:
    try:
        import orjson
    except ImportError:
        import json

        return json.loads, lambda obj: json.dumps(obj).encode(), "json (stdlib)"
    return orjson.loads, orjson.dumps, f"orjson {orjson.__version__}"


loads, dumps, CODEC = _json_codec()


async def handle(ws: ServerConnection) -> None:
    assert ws.request is not None
    if station_id(ws.request.path) is None:
        await ws.close(1008, "expected /ocpp/{station_id}")
        return
    try:
        while True:
            frame = await ws.recv(decode=False)
            try:
                msg = loads(frame)
            except ValueError:
                continue
            if type(msg) is list and len(msg) >= 3 and msg[0] == CALL:
                await ws.send(dumps([3, msg[1], {}]), text=True)
    except ConnectionClosed:
        return


async def main(loop_name: str, host: str, port: int) -> None:
    banner = f"bare websockets server loop={loop_name} json={CODEC}"
    await serve_forever(handle, host, port, banner)


if __name__ == "__main__":
    args = server_args("Bare WebSocket reference server: parse JSON, answer [3, id, {}].")
    run(lambda loop_name: main(loop_name, args.host, args.port), args.loop)
    sys.exit(0)
