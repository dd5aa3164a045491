"""The cached forecast over real HTTP with the fast path on and off, alternately: req/s, and CPU per request
of the server and of the load client (CPU time is what a busy shared machine distorts least).

    python bench/api_fastpath_ab.py [--rounds 2] [--seconds 5]

The server is ``forecaster serve`` on the embedded demo target (``demo_train: false``: the baseline serves,
the same cached path); the client is bench/api_load.py's (a second process, raw sockets, keep-alive).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_load  # noqa: E402
from fleet import _cpu_s  # noqa: E402

PATH = "/v1/targets/live-streaming-demo/forecast"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    for _ in range(args.rounds):
        for fast in (True, False):
            os.environ["FORECASTER_SERVE_CACHED_FAST_PATH"] = "true" if fast else "false"
            port = api_load._free_port()
            proc = api_load.start_server(port, Path(tempfile.mkdtemp(prefix="fastpath-ab-")))
            try:
                api_load.run_client(port, PATH, {}, concurrency=args.connections, seconds=1)  # warm-up
                server0, client0 = _cpu_s(proc.pid), resource.getrusage(resource.RUSAGE_CHILDREN)
                r = api_load.run_client(port, PATH, {}, concurrency=args.connections, seconds=args.seconds)
                server = _cpu_s(proc.pid) - server0
                client1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            finally:
                proc.terminate()
                proc.wait(10)
            client = client1.ru_utime + client1.ru_stime - client0.ru_utime - client0.ru_stime
            n = max(1, r["requests"])
            print(
                f"| {'on' if fast else 'off'} | {r['statuses']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | "
                f"{r['p99_ms']:.1f} | {server / n * 1e6:.0f} | {client / n * 1e6:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
