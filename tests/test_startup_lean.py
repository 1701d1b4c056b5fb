"""The sender, the console and the workers start without numpy and scipy: only story clustering uses them
(digest.stories loads its clustering modules when first used), and nothing imports the CSS inliner before it
inlines. Checked in a fresh interpreter through sys.modules; the time it saves is `make bench`'s business."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CLUSTERING = ("numpy", "scipy")
ENTRIES = ("digest.operations.sending", "digest.web.app", "digest.workers.app", "digest.pipeline.run",
           "digest.operations.preview")


def imported_by(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return set(done.stdout.split())


@pytest.mark.parametrize("entry", ENTRIES)
def test_an_entry_module_imports_neither_numpy_nor_scipy(entry):
    loaded = imported_by(f"import {entry}")
    assert entry in loaded and "sqlalchemy" in loaded  # it did load its use cases
    assert not {m for m in loaded if m.split(".")[0] in CLUSTERING + ("css_inline", "premailer")}


def test_stories_are_read_without_numpy_and_clustered_with_it():
    reading = imported_by("from digest.stories import Story, StoryParams, linkable, story_similarity\nStoryParams()")
    assert not {m for m in reading if m.split(".")[0] in CLUSTERING}
    clustering = imported_by("from digest.stories import cluster, tf_idf")
    assert {"numpy", "digest.stories.linkage", "digest.stories.rows"} <= clustering
    assert not {m for m in clustering if m.split(".")[0] == "scipy"}  # only for big inputs (stories.large)


def test_clustering_an_editions_candidates_imports_no_scipy():
    """Up to 4,096 articles (a preview's, an edition's selection) the sparse rows are numpy alone."""
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    loaded = imported_by(f"sys.path.insert(0, {str(bench)!r})\nfrom stories import synthetic\n"
                         "from digest.stories import group_stories\n"
                         "assert len(group_stories(synthetic(600, per_day=300))) > 100")
    assert "digest.stories.rows" in loaded
    assert not {m for m in loaded if m.split(".")[0] == "scipy"}


def test_a_lazy_name_that_does_not_exist_is_an_attribute_error():
    with pytest.raises(AttributeError):
        import digest.stories

        digest.stories.no_such_name  # noqa: B018
