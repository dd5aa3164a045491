"""The cached forecast's CPU per request in-process: the ASGI app called directly (no sockets, no client).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/api_inprocess.py [REQUESTS] [--profile]

The demo target with ``demo_train: false`` (the baseline serves, through the same cache); CPU time of this
process (time.process_time) over REQUESTS calls after 200 warm-up ones; --profile prints cProfile's top 25.
"""

from __future__ import annotations

import asyncio
import cProfile
import dataclasses
import pstats
import sys
import time

from forecaster.api.app import create_app
from forecaster.api.settings import ServeSettings

PATH = "/v1/targets/live-streaming-demo/forecast"


async def main(requests: int, *, profile: bool) -> None:
    app = create_app(dataclasses.replace(ServeSettings(), demo_train=False, auth_token_env=None))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        if len(sent) < 2:
            sent.append(message)

    async with app.router.lifespan_context(app):
        service = app.state.service
        for _ in range(300):
            if all(s.entry is not None for s in service.targets.values()):
                break
            await asyncio.sleep(0.1)
        for _ in range(200):
            await app(dict(scope), receive, send)
        assert sent[0]["status"] == 200, sent[0]
        profiler = cProfile.Profile() if profile else None
        started = time.process_time()
        if profiler:
            profiler.enable()
        for _ in range(requests):
            await app(dict(scope), receive, send)
        if profiler:
            profiler.disable()
        cpu = time.process_time() - started
        print(f"{cpu / requests * 1e6:.1f} us of CPU per cached forecast (process_time, {requests} requests)")
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 5000,
            profile="--profile" in sys.argv,
        )
    )
