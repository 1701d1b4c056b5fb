"""The command line, a thin client of `digest.operations`: each command parses its arguments, calls one use case
(`digest run` and `digest demo` call `digest.schedule` and `digest.demo`, which call the use cases), and prints
a table, lines or JSON. It never imports the store, the pipeline or the workers.

Every DigestError becomes one line on stderr and exit 1; usage errors exit 2; `send` exits 3 when some
delivery ended other than sent or skipped.
"""

import gc

from digest.cli import bounces, workers, content, db, delivery, feeds, people, stories, web  # noqa: F401  (each registers its commands)
from digest.cli import deliveries  # noqa: F401  (digest deliveries requeue)
from digest.cli import admin  # noqa: F401  (digest admin: the console's accounts)
from digest.cli import editions  # noqa: F401  (digest editions: steer and act on an edition)
from digest.cli import edition_actions  # noqa: F401  (digest editions pause | resume | retry-deferred | retry-unknown)
from digest.cli import api  # noqa: F401  (digest api-keys: the REST API's keys)
from digest.cli import webhooks  # noqa: F401  (digest webhooks: outbound webhooks)
from digest.cli.base import ONE_SHOT, app

__all__ = ["ONE_SHOT", "app", "main"]


def main() -> None:
    """The command line; the cyclic garbage collector is off until a command other than ONE_SHOT's starts."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        app(prog_name="digest")
    finally:
        if was_enabled:
            gc.enable()
