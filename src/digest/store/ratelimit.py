"""The relay's send rate shared by every worker: one row per relay in the `ratelimit` table (PostgreSQL).

A worker reserves a block of sends at a time: the row's `next_slot` moves on by block ÷ rate in one
atomic statement, on the database's clock, so any number of workers on any number of machines together
stay at the rate. 421/4.7.x replies halve the rate for everyone; each reservation lets it recover by 2 %.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

_ENSURE = text("INSERT INTO ratelimit (name, rate, target, next_slot) VALUES (:name, :target, :target, 0) "
               "ON CONFLICT (name) DO NOTHING")
_RESERVE = text("""
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
     old AS (SELECT rate, greatest(next_slot, clock.now) AS start, clock.now
               FROM ratelimit, clock WHERE name = :name FOR UPDATE)
UPDATE ratelimit r
   SET next_slot = old.start + :count / least(old.rate, :target),
       rate = least(:target, old.rate * 1.02),
       target = :target
  FROM old
 WHERE r.name = :name
RETURNING old.start - old.now AS wait, least(old.rate, :target) AS rate
""")
_THROTTLE = text("UPDATE ratelimit SET rate = greatest(:floor, rate / 2) WHERE name = :name RETURNING rate")


def reserve(conn: Connection, *, name: str, count: int, target: float) -> tuple[float, float]:
    """Reserve `count` sends at `target` per second: (seconds to wait before the first, rate to space them at)."""
    conn.execute(_ENSURE, {"name": name, "target": target})
    row = conn.execute(_RESERVE, {"name": name, "count": count, "target": target}).one()
    return max(0.0, row.wait), row.rate


def throttle(conn: Connection, *, name: str, floor: float = 1.0) -> float:
    """Halve the shared rate (the relay said slow down): the new rate."""
    row = conn.execute(_THROTTLE, {"name": name, "floor": floor}).first()
    return row.rate if row else floor
