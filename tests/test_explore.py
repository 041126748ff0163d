"""The explore page: a batch of one with slider weights, and the Solara server serving its plot."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from alignsim import ConfigError, load_scenario
from alignsim.apps.explore import APP_FILE, ExploreModel, slider_specs

from conftest import CONFIG, ROOT, stop_process_group, wait_until_ready

SOLARA = Path(sys.executable).with_name("solara")


def test_sliders_cover_every_driver_weight_at_the_prior_median():
    s = load_scenario(CONFIG / "base.yaml")
    specs = slider_specs(s)
    assert {f"w_{k}" for k in s.drivers} <= set(specs)
    for k, d in s.drivers.items():
        spec = specs[f"w_{k}"]
        lo, hi = d.weight.support()
        if lo == hi:  # a fixed share (a family's only instance): the slider spans +/- 1 around it
            lo, hi = lo - 1.0, hi + 1.0
        assert spec["min"] <= spec["value"] <= spec["max"] and (spec["min"], spec["max"]) == (lo, hi)


def test_a_family_weight_moves_the_gap_through_its_instances():
    """external_threat starts at 0 in the Uzbekistan scenarios; its only instance,
    regional_instability (share fixed at 1), carries it: the gap moves by d(w_family) x its value."""
    s = load_scenario(CONFIG / "base.yaml")
    assert s.drivers["regional_instability"].family == "external_threat"
    a = ExploreModel(str(CONFIG / "base.yaml"), w_external_threat=0.5)
    b = ExploreModel(str(CONFIG / "base.yaml"), w_external_threat=2.0)
    x = next(v.value[0] for v in a.focal.variables if v.ref == "drivers.regional_instability")
    assert x > 0
    assert b.focal.gap[0] - a.focal.gap[0] == pytest.approx(1.5 * x)


def test_a_weight_moves_the_gap_by_weight_times_driver():
    s = load_scenario(CONFIG / "base.yaml")
    families = {d.family for d in s.drivers.values()}
    name = next(k for k, d in s.drivers.items() if d.direction == "toward" and d.family is None and k not in families)
    a = ExploreModel(str(CONFIG / "base.yaml"), **{f"w_{name}": 0.5})
    b = ExploreModel(str(CONFIG / "base.yaml"), **{f"w_{name}": 1.5})
    x0 = next(v.value[0] for v in a.focal.variables if v.ref == f"drivers.{name}")
    assert b.focal.gap[0] - a.focal.gap[0] == pytest.approx(1.0 * x0)   # toward: +weight x driver
    while a.running:
        a.step()
    h = a.history
    assert a.steps == s.axis.n_steps and a.n == 1
    gap = h[h["series"] == "gap"]
    assert list(gap["step"]) == list(range(s.axis.n_steps + 1))
    assert set(h["actor"]) == set(s.actors)
    with pytest.raises(ConfigError, match="one of the sliders"):
        ExploreModel(str(CONFIG / "base.yaml"), w_nothing=1.0)


@pytest.mark.slow  # over 1 s since base runs strategic powers (fast tier: 30 s)
@pytest.mark.parametrize("config", ["base.yaml", "base-rule.yaml"])
def test_mesa_accepts_the_pages_model_params(config):
    """Mesa's SolaraViz check (the one the page runs) passes for every slider of the scenario,
    including the powers' utility weights; it refuses an ``__init__`` whose var-keyword is not
    called ``kwargs`` (the page's earlier "Missing required model parameter: weights")."""
    from mesa.visualization.solara_viz import _check_model_params

    specs = slider_specs(load_scenario(CONFIG / config))
    params = {"config": str(CONFIG / config), "seed": {"type": "SliderInt", "value": 0}, **specs}
    _check_model_params(ExploreModel.__init__, params)

    def renamed(self, config=None, seed=0, **weights):
        pass

    with pytest.raises(ValueError, match="Missing required model parameter: weights"):
        _check_model_params(renamed, params)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, r.read(), r.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("content-type", "")


@pytest.mark.slow
def test_solara_server_serves_the_utility_gap_plot():
    if not SOLARA.is_file():
        pytest.fail(f"{SOLARA} missing: solara is a dependency (pip install -c requirements.lock -e .)")
    port = _free_port()
    env = dict(os.environ, ALIGNSIM_CONFIG=str(CONFIG / "base.yaml"))
    proc = subprocess.Popen([str(SOLARA), "run", str(APP_FILE), "--port", str(port), "--host", "localhost",
                             "--no-open", "--production"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://localhost:{port}"
    try:
        wait_until_ready(base + "/readyz", proc, 45, lambda: proc.stdout.read().decode(errors="replace")
                         if proc.poll() is not None else "")
        status, page, _ = _get(base + "/")
        assert status == 200 and b"solara" in page.lower()
        status, png, ctype = _get(base + "/alignsim/gap.png")
        assert status == 200 and ctype == "image/png"
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG" and img.width > 400 and img.height > 250
        # the plot follows the sliders: another weight, another trajectory
        status2, png2, _ = _get(base + "/alignsim/gap.png?w_regional_instability=0.5&seed=2")
        assert status2 == 200 and png2 != png
        status3, states, _ = _get(base + "/alignsim/states.png")
        assert status3 == 200 and Image.open(io.BytesIO(states)).format == "PNG"
        status4, msg, _ = _get(base + "/alignsim/gap.png?w_nothing=1")
        assert status4 == 400 and b"w_nothing" in msg and b"one of the sliders" in msg
        # bad values are a short 400 naming the parameter, never a 500; a long key is not echoed
        for query, name in (("seed=-1", b"seed"), ("seed=nan", b"seed"), ("seed=inf", b"seed"),
                            ("w_regional_instability=1e399", b"w_regional_instability"),
                            ("w_regional_instability=-1e6", b"w_regional_instability"),
                            ("w_regional_instability=nan", b"w_regional_instability"),
                            ("k" * 1500 + "=1", b"at most 64 characters"),
                            ("k" * 100_000 + "=1", b"")):
            status5, msg, _ = _get(f"{base}/alignsim/gap.png?{query}")
            assert 400 <= status5 < 500 and name in msg and len(msg) < 300, (query[:40], status5, msg[:300])
    finally:
        stop_process_group(proc)
