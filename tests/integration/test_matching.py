"""Double entries recognised on a labelled synthetic set, and every conflict kind of the queue."""

from __future__ import annotations

import pytest

from bridge import wiring
from sandbox.evaluation import link_quality
from sandbox.generator import generate
from sandbox.seed import seed
from sync.verify import verify
from tests.integration.sandbox_fixtures import sandbox
from tests.integration.test_sync import run, settings_stub

LABELLED = generate(400, seed=21, messy_share=0.0, double_share=0.3, existing=200)


def test_linking_on_a_clean_labelled_set_is_exact(internal_url, tmp_path):
    seed(wiring.engines(settings_stub(internal_url, tmp_path))[0], LABELLED["internal"])
    with sandbox(LABELLED) as server:
        parts, result = run(server, internal_url, tmp_path)
    quality = link_quality(parts.state, LABELLED["labels"])
    conflicts = sum(1 for v in LABELLED["labels"].values() if v == "conflict")
    assert quality.labelled >= 40 and quality.near_misses >= 3
    assert quality.precision == 1.0 and quality.recall == 1.0
    assert quality.mismatches_held == conflicts and quality.near_misses_linked == 0
    assert result.tally.by_state["linked"] == quality.linked
    assert verify(parts.internal, parts.state, "2").ok


@pytest.mark.parametrize("share", [0.1])
def test_messy_input_never_links_wrongly(share, sqlite_internal_url, tmp_path):
    scenario = generate(400, seed=22, messy_share=share, double_share=0.3, existing=200)
    seed(wiring.engines(settings_stub(sqlite_internal_url, tmp_path))[0], scenario["internal"])
    with sandbox(scenario) as server:
        parts, _ = run(server, sqlite_internal_url, tmp_path)
    quality = link_quality(parts.state, scenario["labels"], scenario["twins"])
    assert quality.precision == 1.0 and quality.recall >= 0.85
