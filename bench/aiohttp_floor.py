"""What one idle websocket costs a bare aiohttp server, with no Engine.IO, Socket.IO or hub on it:
the floor under the hub's memory per socket (bench/README.md, "Memory per socket").

    .venv/bin/python bench/aiohttp_floor.py                  # 5,000 websockets
    .venv/bin/python bench/aiohttp_floor.py --sockets 1000

It starts a server process (this file with ``--serve``): one aiohttp route whose handler prepares
a ``WebSocketResponse`` (the hub's settings: no compression, the hub's largest message) and reads
until the websocket closes, served with handler cancellation as the hub is, collector frozen after
start-up. From this process it opens ``--warmup`` websockets and closes them, reads the server's
RSS, opens ``--sockets`` websockets (aiohttp's client, 25 handshakes at a time), waits two
seconds, reads it again, and prints the growth per websocket and the server's tasks.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

import aiohttp
from aiohttp import web

MAX_MESSAGE = 1_000_000  # the hub's default HUB_MAX_PAYLOAD_BYTES


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, compress=False)
    await ws.prepare(request)
    async for _ in ws:
        pass
    return ws


async def serve(port: int) -> None:
    """The server: answers each line on stdin with its RSS (KiB) and its number of tasks."""
    app = web.Application()
    app.router.add_get("/ws", websocket)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    gc.freeze()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        print(rss_kib(), len(asyncio.all_tasks()), flush=True)
    await runner.cleanup()


async def measure(args: argparse.Namespace) -> int:
    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(args.port), stdin=PIPE, stdout=PIPE
    )
    assert server.stdin is not None
    assert server.stdout is not None

    async def ask() -> tuple[int, int]:
        server.stdin.write(b"?\n")  # type: ignore[union-attr]
        rss, tasks = (await server.stdout.readline()).split()  # type: ignore[union-attr]
        return int(rss), int(tasks)

    try:
        if (await asyncio.wait_for(server.stdout.readline(), 30)).strip() != b"ready":
            print("the server did not start", file=sys.stderr)
            return 1
        url = f"http://127.0.0.1:{args.port}/ws"
        gate = asyncio.Semaphore(25)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def one() -> aiohttp.ClientWebSocketResponse:
                async with gate:
                    return await session.ws_connect(url)

            for ws in await asyncio.gather(*(one() for _ in range(args.warmup))):
                await ws.close()
            await asyncio.sleep(1.0)
            before, _ = await ask()
            held = await asyncio.gather(*(one() for _ in range(args.sockets)))
            await asyncio.sleep(2.0)
            after, tasks = await ask()
            print(
                f"{args.sockets} idle websockets on bare aiohttp: "
                f"{(after - before) / args.sockets:.2f} KiB RSS each; the server runs {tasks} tasks"
            )
            for ws in held:
                await ws.close()
    finally:
        server.stdin.close()
        try:
            await asyncio.wait_for(server.wait(), 10)
        except TimeoutError:
            server.kill()
            await server.wait()
    return 0


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return 0
    return asyncio.run(measure(args))


if __name__ == "__main__":
    sys.exit(main())
