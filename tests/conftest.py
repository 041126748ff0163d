"""Shared helpers: small scenarios built in code, so each test states exactly what it sets."""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, settings

# Hypothesis profiles: ``dev`` (default) for everyday runs, ``ci`` for CI (HYPOTHESIS_PROFILE=ci):
# at least 1,000 examples per property, and print_blob so a failure replays from the log alone
# (``@reproduce_failure``).
settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile("ci", max_examples=1000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"


def fixed(value: float) -> dict:
    return {"dist": "fixed", "value": value, "basis": "setting", "note": "test"}


def uniform(low: float, high: float) -> dict:
    return {"dist": "uniform", "low": low, "high": high, "basis": "setting", "note": "test"}


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def minimal_doc(hazard: float = 0.02) -> dict:
    """A scenario with no drivers, no barrier and a constant join hazard ``hazard`` per quarter."""
    return {
        "name": "minimal",
        "question": "test",
        "event": {"kind": "first_entry"},
        "start": "2020-Q1",
        "end": "2024-Q4",
        "actors": {"focal": {"name": "Focal", "role": "focal"},
                   "patron": {"name": "Patron", "role": "patron"}},
        "bloc": {"name": "Bloc", "short": "BL", "basis": "setting"},
        "member_at_start": {"value": False, "basis": "setting"},
        "decision": {"join_intercept": fixed(logit(hazard)), "leave_intercept": fixed(-30.0)},
        "barrier": {"kind": "shock_level", "label": "b", "scale": "s", "mechanism": "m",
                    "bounds": [0, 10], "initial": fixed(0.0),
                    "params": {"baseline": fixed(0.0), "speed": fixed(0.0)}},
        "drivers": {},
        "monte_carlo": {"replicates": 2000, "draws": 10, "seed": 1, "batch_size": 1000},
    }


def driver(kind: str = "shock_level", direction: str = "toward", weight: dict | None = None,
           initial: float = 0.5, **extra) -> dict:
    params = {"shock_level": {"baseline": fixed(0.2), "speed": fixed(0.1)},
              "partial_adjustment": {"base": fixed(0.2), "speed": fixed(0.1)}}[kind]
    d = {"kind": kind, "label": "d", "scale": "s", "mechanism": "m", "direction": direction,
         "weight": weight or fixed(1.0), "initial": fixed(initial), "params": params}
    d.update(extra)
    return d


@pytest.fixture
def write_doc(tmp_path):
    """Write a scenario mapping to a YAML file (next to an empty seeds/ with one text)."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "source.txt").write_text("A test source text with a quotable sentence.", encoding="utf-8")

    def write(doc: dict, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(copy.deepcopy(doc), sort_keys=False), encoding="utf-8")
        return path
    return write


def _checkout_files() -> set[str]:
    """Top-level entries of the checkout and everything under runs/ (where a stray run would land)."""
    names = {p.name for p in ROOT.iterdir()}
    runs = ROOT / "runs"
    if runs.is_dir():
        names |= {f"runs/{p.relative_to(runs)}" for p in runs.rglob("*")}
    return names


@pytest.fixture(scope="session", autouse=True)
def no_files_left_in_the_checkout():
    """No test may leave files in the checkout (tmp_path is the place for them)."""
    before = _checkout_files()
    yield
    left = sorted(_checkout_files() - before - {".pytest_cache", ".hypothesis"})
    assert left == [], f"tests left files in the checkout: {left[:10]}"


def stop_process_group(proc) -> None:
    """Stop a server started with ``start_new_session=True``: SIGTERM to its process group, then
    SIGKILL if it has not exited within 10 s (so no test leaves a server or browser behind)."""
    import os
    import signal
    import subprocess

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def wait_until_ready(url: str, proc, seconds: float, output) -> None:
    """Poll ``url`` (a readiness endpoint) until it answers 200; fail the test, with the last
    2000 characters of ``output()`` (the server's log), if ``proc`` exits or ``seconds`` pass."""
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"server at {url} did not start: {output()[-2000:]}")
        time.sleep(0.5)
