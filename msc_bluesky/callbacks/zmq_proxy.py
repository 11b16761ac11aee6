"""A bluesky 0MQ proxy bound to loopback by default.

``python -m msc_bluesky.callbacks.zmq_proxy --in 127.0.0.1:5577 --out 127.0.0.1:5578``

Publishers (the RunEngine, see ``zmq_consumer.subscribe_publisher``) connect to ``--in``;
consumers (``zmq_consumer``) connect to ``--out``. bluesky's own ``bluesky-0MQ-proxy``
binds every interface; this one binds only the addresses given.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from msc_bluesky.callbacks.zmq_consumer import (
    DEFAULT_IN_ADDRESS,
    DEFAULT_OUT_ADDRESS,
    check_address,
)


def start_proxy_thread(
    in_address: str = DEFAULT_IN_ADDRESS,
    out_address: str = DEFAULT_OUT_ADDRESS,
    timeout: float = 10.0,
) -> threading.Thread:
    """Run a proxy on a daemon thread of this process (it ends with the process).

    Raises
    ------
    OSError
        If an address cannot be bound (another proxy runs there, for example).
    """
    from bluesky.callbacks.zmq import Proxy

    in_address, out_address = check_address(in_address), check_address(out_address)
    ready = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            proxy = Proxy(in_address=in_address, out_address=out_address)
        except BaseException as err:  # reported to the caller below
            failure.append(err)
            ready.set()
            return
        ready.set()
        proxy.start()

    thread = threading.Thread(target=serve, name="msc-0mq-proxy", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise TimeoutError(f"the 0MQ proxy did not bind within {timeout} s")
    if failure:
        raise OSError(f"cannot run a 0MQ proxy on in={in_address} out={out_address}: "
                      f"{failure[0]}")
    return thread


def main(argv: Sequence[str] | None = None) -> int:
    """Bind the proxy, print ``proxy ready in=... out=...`` and forward until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m msc_bluesky.callbacks.zmq_proxy",
        description="Forward bluesky documents from publishers to consumers over 0MQ.",
    )
    parser.add_argument(
        "--in",
        dest="in_address",
        default=DEFAULT_IN_ADDRESS,
        type=check_address,
        help="host:port publishers connect to",
    )
    parser.add_argument(
        "--out",
        dest="out_address",
        default=DEFAULT_OUT_ADDRESS,
        type=check_address,
        help="host:port consumers connect to",
    )
    args = parser.parse_args(argv)

    from bluesky.callbacks.zmq import Proxy

    proxy = Proxy(in_address=args.in_address, out_address=args.out_address)
    print(f"proxy ready in={args.in_address} out={args.out_address}", flush=True)
    try:
        proxy.start()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
