"""An edition's candidates ranked by the database (tables `engagement`, `article`, `storyassignment`): one query
aggregates every candidate's decayed engagement, scores the stored stories among them (the candidates sharing a
stored key) and keeps, per cell (topic × country), the `depth` best and the `depth` highest-z that can trend; it
returns the kept stories' articles and every new article (no stored key: clustering may join it to others, so
its own score says nothing). `pipeline.pool` states the rule (and holds the same rule in Python, `reachable`,
for what SQL does not cover).

How it stays cheap: `c` visits the candidates in id order, each with its stored story key and its buckets from
ix_engagement_article_hour (a range of that index: article, then hour), grouped by article as they come, so
nothing is sorted or joined back (recent and baseline views: one sum, recent × 2^32 + baseline); SQLite reads a
bucket's decay from unixepoch (an integer), not julianday. A story no other article is stored under (`alone`:
one probe of ix_storyassignment_story_key) is scored from its article's row as it is; `u` groups the others in
one pass without count(DISTINCT): a story whose outlets are all one (min = max) covers one, and only the
others (`many`) count theirs; its trend is its best-z article's, which has the minimum views when the best z
among the articles that have them is that z (`z_seen` = `z`). Floors: one story in eight (`probe`) is ranked
first in each cell; its `depth`-th best is a score `depth` stories reach, so nothing below it is among the
cell's `depth` best (DENSE_RANK counts stories, not rows: a story's articles and a repeated topic share one
place). The lowest floor over every cell (`bound`; none when a cell lacks a full floor) leaves out, before any
cell is built, the stories that reach no cell's floor; the cells of the rest are ranked above their floors.
The kept stories' articles are found by IN (an index SQLite always builds), not by a join it may run as a scan.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, text
from sqlmodel import Session

from digest.models import StoryAssignment, UTCDateTime

_SHIFT = 4294967296  # 2^32: recent and baseline views summed as one integer (recent × 2^32 + baseline)

# one stored story in eight (by a multiplicative hash of its first article's id, 0-7) ranked first: in each cell
# their `depth`-th best is a floor no unit below it can pass (`depth` units score at least that)
_PROBE = "((u.first * 2654435761) % 4294967296) / 536870912"

_DIALECT = {
    "sqlite": {"age": "((julianday(:now) - julianday({0})) * 24.0)",
               # 2^(-age/h) as exp((unixepoch(hour) - unixepoch(now)) · ln 2 / 3600 h): a bucket's whole
               # seconds (buckets are whole hours) read as an integer, not a julian day's float
               "decay": "exp((unixepoch(g.hour) - :now_epoch) * :decay_rate_s)",
               "topics": "LEFT JOIN json_each(c.topics) AS t ON TRUE", "topics_text": "topics",
               "recent": f"({{0}} / {_SHIFT})", "baseline": f"({{0}} % {_SHIFT})"},
    "postgresql": {"age": "(CAST(extract(epoch FROM (:now - {0})) AS DOUBLE PRECISION) / 3600.0)",
                   "decay": "power(2.0, (CAST(extract(epoch FROM (:now - g.hour)) AS DOUBLE PRECISION) / 3600.0)"
                            " / -:half_life)",
                   "topics": "LEFT JOIN LATERAL json_array_elements_text(CAST(c.topics AS JSON)) AS t(value) ON TRUE",
                   "topics_text": "CAST(topics AS TEXT)",
                   "recent": f"CAST(div({{0}}, {_SHIFT}) AS BIGINT)",
                   "baseline": f"CAST(mod({{0}}, {_SHIFT}) AS BIGINT)"},
}

QUERY = """
WITH c AS (
  SELECT id, story, source, country, topics, published_at, age, e, COALESCE({recent}, 0) AS r,
         COALESCE({baseline}, 0) AS b, {alone} AS alone
  FROM (SELECT a.id, {story} AS story, NULLIF(a.source, '') AS source, lower(COALESCE(a.country, '')) AS country,
               a.topics, a.published_at, {age_published} AS age,
               COALESCE(sum(g.count * {weight} * {decay}), 0.0) AS e, {views} AS v
        FROM article a {assigned}
             LEFT JOIN engagement g {by_article} ON g.article_id = a.id AND g.hour >= :since AND g.hour < :now
        WHERE a.id IN (SELECT id FROM article WHERE published_at >= :start AND published_at < :now {excluded})
        GROUP BY a.id) AS c0),
u AS (
  SELECT story, sum({gravity}) AS total, min(source) AS lo, max(source) AS hi, max(published_at) AS latest,
         min(id) AS first, max(CASE WHEN r > 0 THEN {z} END) AS z,
         max(CASE WHEN r > 0 AND r >= :min_views THEN {z} END) AS z_seen
  FROM c WHERE story IS NOT NULL AND alone = 0 GROUP BY story),
many AS (
  SELECT story, count(DISTINCT source) AS cov FROM c
  WHERE story IN (SELECT story FROM u WHERE lo <> hi) GROUP BY story),
s AS (
  SELECT u.story, u.latest, {probe} AS probe,
         CASE WHEN (SELECT max(e) FROM c) > 0 THEN u.total * ln(1.0 + COALESCE(m.cov, 1)) ELSE COALESCE(m.cov, 1)
         END AS score,
         CASE WHEN u.z_seen = u.z AND u.z >= :min_z THEN u.z END AS rising
  FROM u LEFT JOIN many m ON m.story = u.story
  UNION ALL
  SELECT c.story, c.published_at, {probe_alone} AS probe,
         CASE WHEN (SELECT max(e) FROM c) > 0 THEN {gravity} * ln(2.0) ELSE 1 END AS score,
         CASE WHEN c.r > 0 AND c.r >= :min_views AND {z} >= :min_z THEN {z} END AS rising
  FROM c WHERE c.alone = 1),
ss AS (SELECT story, latest, score, rising FROM s WHERE probe = 0),
sample AS (
  SELECT ss.story AS unit, lower(COALESCE(t.value, '')) AS topic, c.country, ss.latest, ss.score, ss.rising
  FROM c CROSS JOIN ss {topics} WHERE ss.story = c.story),
floors AS (
  SELECT topic, country, min(CASE WHEN n <= :depth THEN score END) AS score,
         min(CASE WHEN m <= :depth AND rising IS NOT NULL THEN rising END) AS rising,
         max(CASE WHEN n <= :depth THEN n END) AS n, max(CASE WHEN m <= :depth AND rising IS NOT NULL THEN m END) AS m
  FROM (SELECT topic, country, score, rising,
               DENSE_RANK() OVER (PARTITION BY topic, country ORDER BY score DESC, latest DESC, unit) AS n,
               DENSE_RANK() OVER (PARTITION BY topic, country, rising IS NULL ORDER BY rising DESC, unit) AS m
        FROM sample) AS q
  GROUP BY topic, country),
cellset AS (
  SELECT DISTINCT lower(COALESCE(t.value, '')) AS topic, c.country
  FROM (SELECT DISTINCT {topics_text} AS topics, country FROM c WHERE story IS NOT NULL) AS c {topics}),
bound AS (
  SELECT CASE WHEN count(*) = count(f.n) AND min(f.n) >= :depth THEN min(f.score) END AS score,
         CASE WHEN count(*) = count(f.m) AND min(f.m) >= :depth THEN min(f.rising) END AS rising
  FROM cellset k LEFT JOIN floors f ON f.topic = k.topic AND f.country = k.country),
cand AS (
  SELECT s.story, s.latest, s.score, s.rising FROM s CROSS JOIN bound
  WHERE bound.score IS NULL OR s.score >= bound.score
        OR (s.rising IS NOT NULL AND (bound.rising IS NULL OR s.rising >= bound.rising))),
cells AS (
  SELECT cand.story AS unit, lower(COALESCE(t.value, '')) AS topic, c.country, cand.latest, cand.score, cand.rising
  FROM c CROSS JOIN cand {topics} WHERE cand.story = c.story),
kept AS (
  SELECT unit FROM (
    SELECT unit, DENSE_RANK() OVER (PARTITION BY cells.topic, cells.country
                                    ORDER BY cells.score DESC, latest DESC, unit) AS n
    FROM cells LEFT JOIN floors f ON f.topic = cells.topic AND f.country = cells.country
    WHERE f.n IS NULL OR f.n < :depth OR cells.score >= f.score) AS best WHERE n <= :depth
  UNION
  SELECT unit FROM (
    SELECT unit, DENSE_RANK() OVER (PARTITION BY cells.topic, cells.country ORDER BY cells.rising DESC, unit) AS n
    FROM cells LEFT JOIN floors f ON f.topic = cells.topic AND f.country = cells.country
    WHERE cells.rising IS NOT NULL AND (f.m IS NULL OR f.m < :depth OR f.rising IS NULL OR cells.rising >= f.rising))
    AS up WHERE n <= :depth
  UNION
  SELECT story FROM c WHERE id IN ({keep}) AND story IS NOT NULL)
SELECT c.id, c.e, c.r, c.b FROM c WHERE c.story IN (SELECT unit FROM kept)
UNION ALL
SELECT c.id, c.e, c.r, c.b FROM c WHERE c.story IS NULL
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
    views = (f"sum(CASE WHEN g.kind = 'view' AND g.hour >= :baseline_since THEN g.count * "
             f"(CASE WHEN g.hour >= :recent_since THEN {_SHIFT} ELSE 1 END) ELSE 0 END)")
    lam = _expected(curve, w, b)
    sql = QUERY.format(
        weight="CASE g.kind " + " ".join(f"WHEN '{k}' THEN {float(v)!r}" for k, v in weights.items()
                                         if k.isalnum()) + " ELSE 0.0 END",
        decay=_decay(connection, dialect), age_published=dialect["age"].format("a.published_at"),
        views=views, recent=dialect["recent"].format("v"), baseline=dialect["baseline"].format("v"),
        by_article=_by_article(connection),
        story="max(sa.story_key)" if assigned else "CAST(NULL AS VARCHAR)",
        assigned="LEFT JOIN storyassignment sa ON sa.article_id = a.id" if assigned else "",
        excluded=f"AND id NOT IN ({ids(excluded)})" if excluded else "",
        z=f"((c.r - {lam}) / sqrt({lam} + 2.0))",
        gravity=f"c.e / power((CASE WHEN c.age > 0 THEN c.age ELSE 0.0 END) + 2.0, {float(gravity)!r})" if gravity
        else "c.e",
        cov="(CASE WHEN su.cov > 1 THEN su.cov ELSE 1 END)",
        keep=ids(keep) or "NULL", topics=dialect["topics"], topics_text=dialect["topics_text"], probe=_PROBE,
        probe_alone=_PROBE.replace("u.first", "c.id"),
        alone=("(CASE WHEN story IS NOT NULL AND NOT EXISTS (SELECT 1 FROM storyassignment o WHERE o.story_key = "
               "c0.story AND o.article_id <> c0.id) THEN 1 ELSE 0 END)") if assigned else "0")
    moments = ("now", "since", "start", "recent_since", "baseline_since")
    query = text(sql).bindparams(*(bindparam(name, type_=UTCDateTime()) for name in moments))
    values = {"now": now, "since": min(start, baseline_since), "start": start, "recent_since": recent_since,
              "baseline_since": baseline_since, "half_life": float(half_life_hours), "depth": int(depth),
              "decay_rate": 24.0 * math.log(2.0) / float(half_life_hours),
              "decay_rate_s": math.log(2.0) / (3600.0 * float(half_life_hours)), "now_epoch": epoch(now),
              "min_views": trending_min_views, "min_z": float(trending_min_z)}
    if connection.dialect.name == "postgresql":
        # the estimates of json_array_elements_text's rows (100 a candidate) make the plan look costly enough to
        # JIT-compile: 3.9 s of compiling for a 1.8 s query at 100,000 candidates (this transaction only)
        connection.exec_driver_sql("SET LOCAL jit = off")
    return [(i, float(e), int(r), int(x)) for i, e, r, x in connection.execute(query, values)]


def _decay(connection, dialect: Mapping[str, str]) -> str:
    """The decay of bucket g: unixepoch's on an SQLite that has it (3.38+), else julianday's."""
    if connection.dialect.name == "sqlite" and not unixepoch_available():
        return "exp((julianday(g.hour) - julianday(:now)) * :decay_rate)"
    return dialect["decay"]


def epoch(moment: datetime) -> float:
    """`moment` in seconds since 1970 UTC, as SQLite's unixepoch reads a stored (naive UTC) time."""
    naive = moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment
    return (naive - datetime(1970, 1, 1)).total_seconds()


def _by_article(connection) -> str:
    """SQLite: read the buckets from ix_engagement_article_hour (article_id, hour, kind, count), which holds every
    column the pass needs in article order; its planner otherwise walks ix_engagement_article_id and the table."""
    if connection.dialect.name != "sqlite":
        return ""
    found = connection.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = "
                                       "'ix_engagement_article_hour'").first()
    return "INDEXED BY ix_engagement_article_hour" if found else ""


def _expected(curve: Mapping[int, float], w: int, b: int) -> str:
    """`ranking._expected` (λ, the views expected in the trending window) as SQL over c's age and b."""
    bucket = f"(CASE WHEN ceil(c.age) > {w} THEN ceil(c.age) ELSE {w} END)"
    from_curve = ("CASE " + bucket + " " + " ".join(f"WHEN {int(k)} THEN {float(v)!r}" for k, v in curve.items())
                  + " END") if curve else "NULL"
    own = (f"(CASE WHEN c.age > {w} THEN c.b * 1.0 / (CASE WHEN c.age - {w} > 1.0 THEN c.age - {w} ELSE 1.0 END)"
           f" * {w} ELSE 0.0 END)")
    return f"(CASE WHEN c.age >= {w + b} THEN c.b * 1.0 / {b} * {w} ELSE COALESCE({from_curve}, {own}) END)"


def available(session: Session) -> bool:
    """Whether the database can run `kept_candidates`: PostgreSQL, or an SQLite with its math functions."""
    name = session.connection().dialect.name
    return name == "postgresql" or (name == "sqlite" and _sqlite_math())


def unixepoch_available() -> bool:
    return _sqlite_runs("SELECT unixepoch('2000-01-01 00:00:00.000000')")


def _sqlite_math() -> bool:
    return _sqlite_runs("SELECT power(2.0, 0.5), ln(2.0), ceil(0.5), julianday('2000-01-01')")


@functools.cache
def _sqlite_runs(sql: str) -> bool:
    """Whether this Python's SQLite has the functions `sql` calls (math functions and unixepoch are newer)."""
    import sqlite3
    try:
        sqlite3.connect(":memory:").execute(sql)
    except sqlite3.OperationalError:
        return False
    return True
