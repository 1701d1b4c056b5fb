"""The chaos script's short form: SIGKILL the sender mid-edition, restart, check what smtp-sink got."""

from __future__ import annotations

import pytest

from benchmarks.chaos import main
from tests.sink import SMTP_SINK


@pytest.mark.store
@pytest.mark.skipif(SMTP_SINK is None, reason="smtp-sink not installed (Debian package postfix; .ci/run installs it)")
def test_kills_never_duplicate_or_lose_a_reader(capsys, store_url):
    assert main(["--subscribers", "300", "--kills", "3", "--seed", "11", "--batch", "40",
                 "--store-url", store_url]) == 0
    out = capsys.readouterr().out
    assert "chaos: all properties hold" in out
