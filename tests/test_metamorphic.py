"""The metamorphic suite, generated from config: for every scenario in config/ (and
config/backtests/), raising a driver's weight moves P(event) in the driver's ``direction``, and
raising a toward/away shock's rate (or scheduled probability) moves it in the shock's.

Each pair of runs shares every random number (same seed, same replicate numbers, same outer
draws): only the raised parameter differs, so replicate-by-replicate differences isolate its
effect. A case passes when the paired mean difference is more than ``Z`` standard errors in the
expected direction; an effect too small to see at ``N`` replicates is retried at ``4 N``, then
``16 N``, then ``64 N`` (the 2011-Q3 suspension case: exercises act on trust, which reaches the
decision slowly, through patron investment's share of the economic-dependence family's weight).
For ``first_exit`` and ``first_suspension`` the expected sign flips (a driver toward membership makes leaving less likely).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from alignsim import load_scenario, simulate
from alignsim.analyses.power_models import with_model
from alignsim.engine.ensemble import EnsembleResult
from alignsim.engine.estimates import event_step
from alignsim.engine.priors import replicate_params, sample_draws
from alignsim.scenario import Scenario
from alignsim.scenario.loader import read_yaml

from conftest import CONFIG

N, Z, SEED = 4000, 3.0, 4242

# Claims in config that the model's mechanics contradict, found by this suite and reported rather
# than hidden: strict xfail, so a fix to the config or the mechanisms turns them into failures
# until this entry is removed.
KNOWN_DISAGREEMENTS: dict[str, str] = {
    # Empty now. It held "shocks.joint_exercise.rate": the exercise used to jump the patron's
    # cooperation index, which the 'away' bilateral_cooperation driver mirrors, so more exercises
    # lowered the odds. Exercises now act on trust only (config/priors.yaml), as the source reads them.
    # Keys are a prior path, or "<scenario file>:<prior path>" for one scenario only.
}

# Where a strategic power's response reverses the direct effect, as a property of the model (not
# a bug): the expected sign is flipped, and the reason is the mechanism, tested on a planted case
# in tests/test_powers.py (test_strategic_patron_offsets_a_stronger_substitute).
STRATEGIC_OFFSETS: dict[str, str] = {
    "base.yaml:drivers.bilateral_cooperation.weight": (
        "Russia values the bilateral ties themselves but wants membership more: when Uzbekistan "
        "weighs those ties more as a substitute for the CSTO, Russia supplies fewer of them (mean "
        "final cooperation 0.50 -> 0.02 at N=4000, seed 4242), so the ties' pull away shrinks "
        "(mean contribution -0.21 -> -0.17) and P(join) rises (+6.1 points, z 15)"),
    "backtests/uzbekistan-2017Q3.yaml:drivers.bilateral_cooperation.weight": (
        "The same response as in base.yaml over the 2017-2025 window: P(join) +0.0054 (paired se "
        "0.0011, z +5.0) at 256,000 replicates"),
}

# Where a strategic power's response cancels the direct effect (measured at 64,000 replicates,
# seed 4242): the rule-based twin must move in the configured direction, and the strategic effect
# must be under a quarter of the twin's, so that a change which lets the effect through fails here.
STRATEGIC_CANCELS: dict[str, str] = {
    "current.yaml:drivers.bilateral_cooperation.weight": (
        "Rule-based twin: P(join) -0.049 (z -58); strategic: -0.0002 (z -1.2 at 256,000). Russia cuts "
        "the bilateral ties Uzbekistan would use as a substitute (the base.yaml offset), about as "
        "much as the stronger weight pulls away"),
    "backtests/uzbekistan-2011Q3.yaml:drivers.bilateral_cooperation.weight": (
        "Rule-based twin: P(suspend) +0.024 (z +22); strategic: -0.0008 (z -1.1). The same offset"),
}

# Effects the soft maximum over outside options makes too small to see with the suite's largest
# sample (64 x N): a partner's offer counts only where it is close to the best one. Here the check
# is that the effect is not significantly of the wrong sign (z > -Z); the reason is measured.
SOFT_MAXIMUM_DAMPENED: dict[str, str] = {
    "backtests/uzbekistan-2011Q3.yaml:drivers.china_security.weight": (
        "P(suspend) +0.0010 (z +2.2) at 64,000 strategic, +0.0015 (z +3.3) rule-based: China's "
        "security offer in 2011-2014 is rarely Uzbekistan's best alternative"),
    "backtests/uzbekistan-2011Q3.yaml:drivers.turkey_ots.weight": (
        "P(suspend) +0.0009 (z +2.9) at 64,000 under either power model: Turkey's offer is rarely "
        "the best alternative"),
}


PANEL_SAMPLE = 3  # panel cases in the suite: a seeded sample, not every one of the 80 files


def panel_sample() -> list[Path]:
    """A fixed, seeded sample of the panel's case files (random.Random(20261128))."""
    import random

    files = sorted((CONFIG / "panel").glob("*.yaml"))
    return sorted(random.Random(20261128).sample(files, PANEL_SAMPLE))


@lru_cache(maxsize=None)
def scenario_files() -> tuple[Path, ...]:
    """Every YAML in config/ and config/backtests/ that is a scenario (not priors, sweeps, tables)."""
    files = sorted(CONFIG.glob("*.yaml")) + sorted((CONFIG / "backtests").glob("*.yaml"))
    files += panel_sample()
    out = []
    for f in files:
        doc = read_yaml(f)  # the loader's parser, which remembers each text for load_scenario
        if isinstance(doc, dict) and {"question", "event", "start", "end"} <= set(doc):
            out.append(f)
    return tuple(out)


@lru_cache(maxsize=None)
def scenario(path: Path) -> Scenario:
    return load_scenario(path, check_evidence=False)  # evidence is tested elsewhere


def cases() -> list:
    params = []
    for f in scenario_files():
        s = scenario(f)
        name = f.relative_to(CONFIG).as_posix()
        for d in s.drivers:
            key = f"{name}:drivers.{d}.weight"
            marks = ([pytest.mark.xfail(strict=True, reason=KNOWN_DISAGREEMENTS[key])]
                     if key in KNOWN_DISAGREEMENTS else [])
            sign = -s.drivers[d].sign if key in STRATEGIC_OFFSETS else s.drivers[d].sign
            params.append(pytest.param(f, f"drivers.{d}.weight", sign, id=f"{name}:driver:{d}", marks=marks))
        for k, shock in s.shocks.items():
            if shock.direction == "mixed":
                continue
            path = f"shocks.{k}.rate" if shock.rate is not None else f"shocks.{k}.probability"
            sign = 1.0 if shock.direction == "toward" else -1.0
            marks = ([pytest.mark.xfail(strict=True, reason=KNOWN_DISAGREEMENTS[path])]
                     if path in KNOWN_DISAGREEMENTS else [])
            params.append(pytest.param(f, path, sign, id=f"{name}:shock:{k}", marks=marks))
    return params


@lru_cache(maxsize=None)
def base_params(path: Path, n: int):
    s = scenario(path)
    return replicate_params(sample_draws(s, SEED, n), n, 0, n)


@lru_cache(maxsize=None)
def base_hits(path: Path, n: int) -> np.ndarray:
    return hits(scenario(path), base_params(path, n))


@lru_cache(maxsize=None)
def inert(path: Path, driver: str) -> bool:
    """Whether ``driver`` and its family's instances (drivers with ``family: driver``, whose
    weights it multiplies) all contribute exactly 0 in every replicate of the baseline run."""
    s = scenario(path)
    res = simulate(s, base_params(path, N), SEED)
    members = [driver] + [k for k, d in s.drivers.items() if d.family == driver]
    return all(bool((res.replicates[f"contrib.{m}"] == 0).all()) for m in members)


def hits(s: Scenario, params) -> np.ndarray:
    """1 where the scenario's event happens within the horizon, per replicate."""
    res = simulate(s, params, SEED)
    return (event_step(EnsembleResult(s, SEED, params, res.replicates, res.totals)) > 0).astype(float)


def raised(s: Scenario, params, column: str):
    """``params`` with ``column`` raised well beyond its prior: weights by max(2, 2 x the prior's
    upper end); probabilities to max(0.5, 4 x the upper end), at most 1."""
    out = params.copy()
    hi = dict((p, prior.support()[1]) for p, prior in _priors(s))[column]
    if column.endswith(".weight"):
        out[column] = out[column] + max(2.0, 2.0 * hi)
    else:
        out[column] = np.minimum(1.0, np.maximum(out[column], max(0.5, 4.0 * hi)))
    return out


def _priors(s: Scenario):
    from alignsim.scenario import iter_priors

    return iter_priors(s)


def paired_z(path: Path, column: str, n: int, s: Scenario | None = None) -> tuple[float, float, float]:
    """Paired mean difference in the event indicator when ``column`` is raised, its se and z
    (``s``: a variant of the file's scenario with the same priors, e.g. its rule-based twin)."""
    if s is None:
        s, low = scenario(path), base_hits(path, n)
    else:
        low = hits(s, base_params(path, n))
    high = hits(s, raised(s, base_params(path, n), column))
    diff = high - low
    se = diff.std(ddof=1) / np.sqrt(n)
    mean = diff.mean()
    return mean, se, (mean / se if se > 0 else 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("path, column, direction", cases())
def test_raising_moves_the_event_in_the_configured_direction(path, column, direction):
    s = scenario(path)
    if column.startswith("drivers.") and inert(path, column.split(".")[1]):
        pytest.skip(f"{path.name}: {column.split('.')[1]} is 0 in every replicate here (e.g. a power's "
                    "shift under the rule model), so its weight has nothing to move")
    expected = -direction if s.event.kind in ("first_exit", "first_suspension") else direction
    key = f"{path.relative_to(CONFIG).as_posix()}:{column}"
    if key in STRATEGIC_CANCELS:
        twin = with_model(s, "rule")
        rule_mean, rule_se, rule_z = paired_z(path, column, 16 * N, twin)
        assert expected * rule_z > Z, f"{key}: the rule-based twin moved by {rule_mean:+.4f} (z {rule_z:+.1f})"
        mean, se, z = paired_z(path, column, 16 * N)
        assert abs(mean) < 0.25 * abs(rule_mean), (f"{key}: the strategic effect {mean:+.4f} (z {z:+.1f}) is no "
                                                   f"longer cancelled (rule-based twin {rule_mean:+.4f})")
        return
    mean, se, z = paired_z(path, column, N)
    for k in (4, 16, 64):  # too small to see: look again with 4 (then 16, 64) times the replicates
        if abs(z) > Z:
            break
        mean, se, z = paired_z(path, column, k * N)
    if key in SOFT_MAXIMUM_DAMPENED and abs(z) <= Z:
        assert expected * z > -Z, f"{key}: a significant move of the wrong sign, {mean:+.4f} (z {z:+.1f})"
        return
    assert expected * z > Z, (f"{path.name}: raising {column} changed P({s.event.kind}) by {mean:+.4f} "
                              f"(paired se {se:.4f}, z {z:+.1f}); expected a move of sign {expected:+.0f}")


def test_every_scenario_in_config_is_covered():
    names = {f.name for f in scenario_files()}
    assert "base.yaml" in names and "priors.yaml" not in names
    assert len(cases()) >= len(scenario(CONFIG / "base.yaml").drivers)


def test_the_check_can_fail():
    """A wrong expected direction is detected: the same statistic, signs swapped."""
    path = CONFIG / "base.yaml"
    s = scenario(path)
    name = next(k for k, d in s.drivers.items() if d.direction == "toward")
    _, _, z = paired_z(path, f"drivers.{name}.weight", N)
    assert z > Z and not -z > Z


# Coercion cuts both ways (issue 12, item 4): the patron's pressure raises the sovereignty fear
# (away) and, through the patron_leverage driver, the cost of staying out where the focal state
# depends on the patron (toward). Each direction is checked where it should hold.

def _pressure_raised(params):
    out = params.copy()
    for col in ("policies.russia.pressure.params.base", "policies.russia.pressure.initial"):
        out[col] = out[col] + 0.5
    return out


def _pressure_z(params, n: int) -> float:
    s = scenario(CONFIG / "base.yaml")
    diff = hits(s, _pressure_raised(params)) - hits(s, params)
    se = diff.std(ddof=1) / np.sqrt(n)
    return float(diff.mean() / se) if se > 0 else 0.0


def _with_dependence(params, level: float):
    out = params.copy()
    out["states.patron_dependence.initial"] = level
    out["states.patron_dependence.params.base"] = level
    return out


def test_pressure_pushes_away_where_the_focal_state_does_not_depend_on_the_patron():
    """No dependence: leverage is zero, only the sovereignty fear moves, so P(join) falls."""
    z = _pressure_z(_with_dependence(base_params(CONFIG / "base.yaml", N), 0.0), N)
    if abs(z) <= Z:
        z = _pressure_z(_with_dependence(base_params(CONFIG / "base.yaml", 4 * N), 0.0), 4 * N)
    assert z < -Z, f"z {z:+.1f}"


def test_pressure_pushes_toward_where_dependence_and_leverage_dominate():
    """Full dependence and the leverage weight at its prior's top (8): the cost of staying out
    grows faster with pressure than the sovereignty fear (its channel left at its prior), so
    P(join) rises."""
    def params(n):
        p = _with_dependence(base_params(CONFIG / "base.yaml", n), 1.0)
        p["drivers.patron_leverage.weight"] = 8.0
        return p
    z = _pressure_z(params(N), N)
    if abs(z) <= Z:
        z = _pressure_z(params(4 * N), 4 * N)
    assert z > Z, f"z {z:+.1f}"
