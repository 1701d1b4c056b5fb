"""An edition's candidates ranked by the database (tables `engagement`, `article`, `storyassignment`): one query
aggregates every candidate's decayed engagement, groups the candidates into units (a stored story, or a new
article on its own), scores them and keeps, per cell (topic × country), the `depth` best and the `depth`
highest-z that can trend; it returns only the kept units' articles. `pipeline.pool` states the rule (and holds
the same rule in Python, `reachable`, for what SQL does not cover).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import bindparam, text
from sqlmodel import Session

from digest.models import StoryAssignment, UTCDateTime

_DIALECT = {
    "sqlite": {"age": "((julianday(:now) - julianday({0})) * 24.0)",
               "topics": "LEFT JOIN json_each(c.topics) AS t ON TRUE"},
    "postgresql": {"age": "(CAST(extract(epoch FROM (:now - {0})) AS DOUBLE PRECISION) / 3600.0)",
                   "topics": "LEFT JOIN LATERAL json_array_elements_text(c.topics) AS t(value) ON TRUE"},
}

QUERY = """
WITH e AS (
  SELECT article_id,
         sum(count * {weight} * power(2.0, {age_hour} / -:half_life)) AS e,
         sum(CASE WHEN kind = 'view' AND hour >= :recent_since THEN count ELSE 0 END) AS r,
         sum(CASE WHEN kind = 'view' AND hour >= :baseline_since AND hour < :recent_since THEN count ELSE 0 END) AS b
  FROM engagement WHERE hour >= :since AND hour < :now GROUP BY article_id),
c AS (
  SELECT a.id, {unit} AS unit, NULLIF(a.source, '') AS source, lower(COALESCE(a.country, '')) AS country,
         a.topics, a.published_at, {age_published} AS age,
         COALESCE(e.e, 0.0) AS e, COALESCE(e.r, 0) AS r, COALESCE(e.b, 0) AS b
  FROM article a {assigned} LEFT JOIN e ON e.article_id = a.id
  WHERE a.published_at >= :start AND a.published_at < :now {excluded}),
z AS (
  SELECT unit, r, (r - lam) / sqrt(lam + 2.0) AS z,
         ROW_NUMBER() OVER (PARTITION BY unit ORDER BY (r - lam) / sqrt(lam + 2.0) DESC, r DESC) AS n
  FROM (SELECT unit, r, {expected} AS lam FROM c WHERE r > 0) AS q),
u AS (
  SELECT unit, sum({gravity}) AS total,
         CASE WHEN count(DISTINCT source) > 1 THEN count(DISTINCT source) ELSE 1 END AS cov,
         max(published_at) AS latest, max(CASE WHEN id IN ({keep}) THEN 1 ELSE 0 END) AS pinned
  FROM c GROUP BY unit),
s AS (
  SELECT u.unit, u.latest, u.pinned,
         CASE WHEN (SELECT max(total) FROM u) > 0 THEN u.total * ln(1.0 + u.cov) ELSE u.cov END AS score,
         CASE WHEN z.r >= :min_views AND z.z >= :min_z THEN z.z END AS rising
  FROM u LEFT JOIN z ON z.unit = u.unit AND z.n = 1),
cells AS (
  SELECT DISTINCT c.unit, lower(COALESCE(t.value, '')) AS topic, c.country FROM c {topics}),
ranked AS (
  SELECT cells.unit, s.rising,
         ROW_NUMBER() OVER (PARTITION BY cells.topic, cells.country ORDER BY s.score DESC, s.latest DESC, s.unit)
           AS top_n,
         ROW_NUMBER() OVER (PARTITION BY cells.topic, cells.country, s.rising IS NULL ORDER BY s.rising DESC, s.unit)
           AS rise_n
  FROM cells JOIN s ON s.unit = cells.unit),
kept AS (
  SELECT unit FROM ranked WHERE top_n <= :depth OR (rising IS NOT NULL AND rise_n <= :depth)
  UNION SELECT unit FROM s WHERE pinned = 1)
SELECT c.id, c.e, c.r, c.b FROM c JOIN kept ON kept.unit = c.unit
"""


def kept_candidates(session: Session, *, start: datetime, now: datetime, half_life_hours: float,
                    weights: Mapping[str, float], gravity: float, trending_window_hours: int, baseline_hours: int,
                    trending_min_views: int, trending_min_z: float, curve: Mapping[int, float], depth: int,
                    excluded: Iterable[int] = (), keep: Iterable[int] = ()) -> list[tuple[int, float, int, int]]:
    """(article id, E, recent views, baseline views) of every article of a kept unit (`pipeline.pool`'s rule)
    among the candidates published in [start, now) but the `excluded`; units holding a `keep` id are kept."""
    connection = session.connection()
    dialect = _DIALECT[connection.dialect.name]
    w, b = trending_window_hours, baseline_hours
    recent_since, baseline_since = now - timedelta(hours=w), now - timedelta(hours=w + b)
    assigned = connection.dialect.has_table(connection, StoryAssignment.__tablename__)
    ids = lambda values: ", ".join(str(int(i)) for i in values)  # noqa: E731 (integers only)
    sql = QUERY.format(
        weight="CASE kind " + " ".join(f"WHEN '{k}' THEN {float(v)!r}" for k, v in weights.items()
                                       if k.isalnum()) + " ELSE 0.0 END",
        age_hour=dialect["age"].format("hour"), age_published=dialect["age"].format("a.published_at"),
        unit="COALESCE(sa.story_key, 'a' || a.id)" if assigned else "('a' || a.id)",
        assigned="LEFT JOIN storyassignment sa ON sa.article_id = a.id" if assigned else "",
        excluded=f"AND a.id NOT IN ({ids(excluded)})" if excluded else "",
        expected=_expected(curve, w, b),
        gravity=f"e / power((CASE WHEN age > 0 THEN age ELSE 0.0 END) + 2.0, {float(gravity)!r})" if gravity else "e",
        keep=ids(keep) or "NULL", topics=dialect["topics"])
    moments = ("now", "since", "start", "recent_since", "baseline_since")
    query = text(sql).bindparams(*(bindparam(name, type_=UTCDateTime()) for name in moments))
    values = {"now": now, "since": min(start, baseline_since), "start": start, "recent_since": recent_since,
              "baseline_since": baseline_since, "half_life": float(half_life_hours), "depth": int(depth),
              "min_views": trending_min_views, "min_z": float(trending_min_z)}
    return [(i, float(e), int(r), int(x)) for i, e, r, x in connection.execute(query, values)]


def _expected(curve: Mapping[int, float], w: int, b: int) -> str:
    """`ranking._expected` (λ, the views expected in the trending window) as SQL over c's age and b."""
    bucket = f"(CASE WHEN ceil(age) > {w} THEN ceil(age) ELSE {w} END)"
    from_curve = ("CASE " + bucket + " " + " ".join(f"WHEN {int(k)} THEN {float(v)!r}" for k, v in curve.items())
                  + " END") if curve else "NULL"
    own = f"(CASE WHEN age > {w} THEN b * 1.0 / (CASE WHEN age - {w} > 1.0 THEN age - {w} ELSE 1.0 END) * {w} ELSE 0.0 END)"
    return f"(CASE WHEN age >= {w + b} THEN b * 1.0 / {b} * {w} ELSE COALESCE({from_curve}, {own}) END)"


def available(session: Session) -> bool:
    """Whether the database can run `kept_candidates`: PostgreSQL, or an SQLite with its math functions."""
    name = session.connection().dialect.name
    return name == "postgresql" or (name == "sqlite" and _sqlite_math())


@functools.cache
def _sqlite_math() -> bool:
    import sqlite3
    try:
        sqlite3.connect(":memory:").execute("SELECT power(2.0, 0.5), ln(2.0), ceil(0.5), julianday('2000-01-01')")
    except sqlite3.OperationalError:
        return False
    return True
