"""A seeded base run pinned against committed numbers (tests/data/golden_base.json).

If a change to the model is intended to alter results, regenerate the file and say why in the
commit; an optimisation must leave it untouched.
"""

from __future__ import annotations

import json

import pytest

from alignsim import load_scenario, run_ensemble
from alignsim.engine.estimates import summarise

from conftest import CONFIG, ROOT


def test_base_run_matches_pinned_numbers():
    golden = json.loads((ROOT / "tests" / "data" / "golden_base.json").read_text())
    s = load_scenario(CONFIG / "base.yaml")
    r = run_ensemble(s, replicates=golden["replicates"], seed=golden["seed"], draws=golden["draws"], batch_size=2000)
    sm = summarise(r)
    assert sm["probability"] == pytest.approx(golden["probability"], rel=0, abs=1e-12)
    assert [c["estimate"] for c in sm["cumulative"]] == golden["cumulative"]
    assert [m["estimate"] for m in sm["member_at_year_end"]] == golden["member"]
    assert sm["median_event_quarter"] == golden["median_event_quarter"]
    assert int(r.outcomes.first_entry_step.sum()) == golden["first_entry_sum"]
    assert int(r.totals.gap.sum()) == golden["gap_total"]
