"""The one way a long-running command stops: SIGTERM or Ctrl-C finishes the batch in flight, then stops.

`stop_signals` sets a `threading.Event` the senders check between batches and calls `on_stop(name)` (to log
it, or to stop a scheduler or a worker). A second signal is abrupt (KeyboardInterrupt) where Python's own
handlers run; in an asyncio loop the handlers are the loop's, and a second signal only repeats the request.
The previous handlers come back when the block ends.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_signals(on_stop: Callable[[str], None] = lambda name: None, *, stop: threading.Event | None = None,
                 loop: asyncio.AbstractEventLoop | None = None) -> Iterator[threading.Event]:
    stop = threading.Event() if stop is None else stop

    def handle(signum: int, _frame=None) -> None:
        if stop.is_set() and loop is None:
            raise KeyboardInterrupt
        stop.set()
        on_stop(signal.Signals(signum).name)

    if loop is not None:
        for signum in SIGNALS:
            loop.add_signal_handler(signum, handle, signum)
        try:
            yield stop
        finally:
            for signum in SIGNALS:
                loop.remove_signal_handler(signum)
        return
    previous = {signum: signal.signal(signum, handle) for signum in SIGNALS}
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
