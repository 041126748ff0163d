"""Labels are drawn as plain text: a name that is broken mathtext does not break a figure or the report."""

from __future__ import annotations

import pytest

from alignsim.apps.cli import main

from conftest import driver, minimal_doc

BAD = r"$\undefinedmacro{$"


@pytest.mark.slow
def test_a_mathtext_actor_and_driver_name_renders_in_figures_and_report(tmp_path, write_doc, capsys):
    doc = minimal_doc()
    doc["actors"]["focal"]["name"] = BAD
    doc["actors"]["patron"]["name"] = BAD + " patron"
    doc["bloc"]["short"] = "$x^{"
    doc["drivers"] = {"d1": driver()}
    doc["drivers"]["d1"]["label"] = BAD
    path = write_doc(doc)
    out = tmp_path / "run"
    assert main(["run", str(path), "--replicates", "400", "--out", str(out)]) == 0, capsys.readouterr().err
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert {"cumulative.png", "contributions.png", "gap_fan.png"} <= set(pngs), pngs
    assert all((out / p).stat().st_size > 5000 for p in pngs)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "undefinedmacro" in html  # the name is in the report as written (HTML-escaped text)
