"""Story keys: a story keeps the key most of its articles had before; a new story is `s<id of its earliest article>`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from digest.models import ArticleRecord
from digest.stories.story import by_publication

def assign_keys(groups: Sequence[Sequence[ArticleRecord]], previous: Mapping[int, str]) -> list[str]:
    """One key per group: the previous key most of its articles carry (each key to one group), else derived."""
    votes = sorted((-n, g, key) for g, members in enumerate(groups)
                   for key, n in Counter(previous[a.id] for a in members if a.id in previous).items())
    keys: dict[int, str] = {}
    taken: set[str] = set()
    for _, g, key in votes:
        if g not in keys and key not in taken:
            keys[g] = key
            taken.add(key)
    used = taken | set(previous.values())
    for g, members in enumerate(groups):
        if g not in keys:
            keys[g] = _fresh_key(min(members, key=by_publication).id, used)
            used.add(keys[g])
    return [keys[g] for g in range(len(groups))]


def _fresh_key(article_id: int, used: set[str]) -> str:
    key, n = f"s{article_id}", 1
    while key in used:
        n += 1
        key = f"s{article_id}-{n}"
    return key
