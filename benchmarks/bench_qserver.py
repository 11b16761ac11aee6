"""Queue-server door figures: start-up, REST and encrypted 0MQ latency, stale restart, live stream.

Starts our own Redis (append-only file in a temporary data directory), the RE Manager
(encrypted control socket) and bluesky-httpserver on loopback, without an IOC or a
worker environment, and prints:

- wall time until Redis, the RE Manager and the HTTP server answer;
- ``status`` round trips over REST (API key) and over encrypted 0MQ;
- the restart after ``start-re-manager`` was SIGKILLed (finding and stopping the orphan);
- the latency of 1000-point event documents through the loopback live-stream proxy.

    python benchmarks/bench_qserver.py [--repeats N]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from pathlib import Path


def _figures(samples: list[float]) -> str:
    ms = sorted(1e3 * s for s in samples)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    return f"median {statistics.median(ms):7.2f} ms   p90 {p90:7.2f} ms   min {ms[0]:7.2f} ms"


def _timed(samples: list[float], call) -> None:
    t0 = time.perf_counter()
    call()
    samples.append(time.perf_counter() - t0)


def live_stream_latency(repeats: int) -> list[float]:
    """Seconds from publishing an event (1000-point array) to receiving it through a proxy."""
    import numpy as np

    from msc_bluesky.callbacks.live_view import DocumentReceiver
    from msc_bluesky.callbacks.zmq_consumer import make_publisher, wait_for_consumer
    from msc_bluesky.callbacks.zmq_proxy import start_proxy_thread
    from msc_bluesky.qserver.redis import free_port

    live_in, live_out = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    start_proxy_thread(live_in, live_out)
    receiver = DocumentReceiver(live_out).start()
    publisher = make_publisher(live_in)
    seen: list = []

    def probed() -> bool:
        while not receiver.documents.empty():
            seen.append(receiver.documents.get())
        return bool(seen)

    wait_for_consumer(publisher, probed)
    spectrum = np.linspace(0.0, 1.0, 1000)
    samples = []
    for i in range(repeats):
        doc = {"uid": f"e{i}", "seq_num": i + 1, "data": {"uvvis_absorbance": spectrum},
               "timestamps": {}, "time": time.time(), "descriptor": "d"}  # fmt: skip
        t0 = time.perf_counter()
        publisher("event", doc)
        while True:
            name, got = receiver.documents.get(timeout=10)
            if name == "event" and got["uid"] == doc["uid"]:
                break
        samples.append(time.perf_counter() - t0)
    publisher.close()
    receiver.stop()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    import httpx

    from msc_bluesky.qserver.http import HTTPServer
    from msc_bluesky.qserver.manager import REManager
    from msc_bluesky.qserver.redis import free_port, start_redis

    with tempfile.TemporaryDirectory(prefix="bench_qserver_") as tmp:
        run_dir = Path(tmp) / "data" / "qserver"
        control, info = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
        log = open(Path(tmp) / "log.txt", "w")  # noqa: SIM115 - closed below

        def manager(addr: str) -> REManager:
            return REManager(redis_addr=addr, zmq_control_addr=control, zmq_info_addr=info,
                             run_dir=run_dir, output=log, redis_name_prefix="bench")  # fmt: skip

        t0 = time.perf_counter()
        redis = start_redis(persist_dir=run_dir / "redis")
        t_redis = time.perf_counter() - t0
        t0 = time.perf_counter()
        first = manager(redis.addr).start()
        t_manager = time.perf_counter() - t0
        key = secrets.token_hex(32)
        t0 = time.perf_counter()
        http = HTTPServer(port=free_port(), api_key=key, zmq_control_addr=control,
                          zmq_info_addr=info, zmq_public_key=first.public_key,
                          output=log).start()  # fmt: skip
        t_http = time.perf_counter() - t0
        rest, zmq = [], []
        with httpx.Client(base_url=http.url, headers=http.headers()) as client:
            for _ in range(args.repeats):
                _timed(rest, lambda: client.get("/status").raise_for_status())
        api = first.api()
        for _ in range(args.repeats):
            _timed(zmq, lambda: api.status(reload=True))
        api.close()
        http.stop()

        first.process.kill()  # SIGKILL start-re-manager: its manager child stays bound
        first.process.wait(timeout=10)
        t0 = time.perf_counter()
        second = manager(redis.addr).start()
        t_restart = time.perf_counter() - t0
        second.stop()
        redis.stop()
        log.close()

    live = live_stream_latency(args.repeats)
    print(f"start-up (wall):  Redis {t_redis:.2f} s, RE Manager {t_manager:.2f} s, "
          f"HTTP server {t_http:.2f} s")
    print(f"GET /api/status (API key, {args.repeats}x):      {_figures(rest)}")
    print(f"0MQ status, encrypted ({args.repeats}x):         {_figures(zmq)}")
    print(f"restart after SIGKILL of start-re-manager (orphan stopped): {t_restart:.2f} s")
    print(f"live stream, 1000-point event via proxy ({args.repeats}x): {_figures(live)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
