"""No import side effects, and Mesa's per-model generator switched off in the AlignmentModel."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from alignsim.engine.model import AlignmentModel
from alignsim.engine.priors import point_params
from alignsim.errors import RunError
from alignsim.scenario import validate_document

from conftest import minimal_doc

IMPORT_ALL = """
import importlib, json, pkgutil, sys
import matplotlib
{setup}
before = dict.__getitem__(matplotlib.rcParams, "backend")  # raw value: reading it must not resolve it
import alignsim
names = [m.name for m in pkgutil.walk_packages(alignsim.__path__, "alignsim.")
         if m.name not in ("alignsim.apps.explore_app", "alignsim.__main__")]
for name in names:
    importlib.import_module(name)
after = dict.__getitem__(matplotlib.rcParams, "backend")
print(json.dumps({{"same": before is after or before == after, "before": str(before), "after": str(after),
                  "pyplot": "matplotlib.pyplot" in sys.modules, "modules": len(names)}}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("setup", ["", "matplotlib.use('svg')"], ids=["default-backend", "user-chose-svg"])
def test_importing_every_module_leaves_matplotlib_alone(setup):
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL.format(setup=setup)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["modules"] > 30  # every layer was imported, not just the package
    assert seen["same"], seen
    assert not seen["pyplot"], seen


def _model(n: int = 4) -> AlignmentModel:
    scenario = validate_document(minimal_doc())
    params = point_params(scenario, n)
    params.index = pd.RangeIndex(0, n, name="replicate")
    return AlignmentModel(scenario, params, seed=7)


def test_drawing_from_mesa_rng_fails_loudly():
    model = _model()
    with pytest.raises(RunError, match=r"model\.rng\.random: .*keyed streams"):
        model.rng.random()
    with pytest.raises(RunError, match=r"model\.rng\.normal"):
        model.rng.normal(size=3)
    with pytest.raises(RunError, match=r"model\.random\.shuffle"):
        model.random.shuffle([1, 2, 3])
    with pytest.raises(RunError, match="keyed streams"):
        model.focal.rng.integers(10)  # an agent's self.rng is the model's


def test_an_agent_shuffle_through_mesa_fails_loudly_but_do_works():
    model = _model()
    model.agents.do(lambda agent: None)  # Mesa's ordered AgentSet.do draws nothing: it works
    with pytest.raises(RunError, match=r"model\.random\.shuffle"):
        model.agents.shuffle_do("step")


def test_the_guarded_model_still_steps_and_draws_from_the_keyed_streams():
    model = _model()
    u = model.uniform("test")
    assert u.shape == (4,) and np.all((u >= 0) & (u < 1))
    model.step()
    assert model.steps == 1
