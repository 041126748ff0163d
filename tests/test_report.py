"""The report: self-contained HTML and Markdown, headline equal to summary.json, extra sections,
and a headless Chromium check that every image loads (skipped without the browser outside CI)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alignsim import RunError, run
from alignsim.apps.cli import main
from alignsim.runs.report import build_report
from alignsim.outputs.report_text import headline_sentence, pct

from conftest import CONFIG

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    # 60 replicates per parameter draw, so the headline carries an epistemic range
    run(CONFIG / "base.yaml", replicates=3000, seed=3, out=out, overrides=["monte_carlo.draws=50"], report=False)
    return out


@pytest.fixture(scope="module")
def report(run_dir):
    return build_report(run_dir)


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


@pytest.mark.slow
def test_html_is_self_contained_with_the_summary_headline(run_dir, report):
    html_path, md_path = report
    html = html_path.read_text(encoding="utf-8")
    summary = json.loads((run_dir / "summary.json").read_text())
    # every resource is inline: no src/href to another file or the network (links to sections only)
    assert all(v.startswith("data:image/png;base64,") for v in re.findall(r'src="([^"]*)"', html))
    assert all(v.startswith("#") for v in re.findall(r'href="([^"]*)"', html))
    assert "<script" not in html and "<link" not in html
    pngs = _images(html)
    assert len(pngs) == 5  # four figures of every run and the powers' choices (strategic base)
    for png in pngs:
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG" and img.width > 400 and img.height > 250
    head = re.search(r'<p id="headline"([^>]*)>([^<]*)</p>', html)
    from alignsim.scenario import validate_document
    import yaml
    scenario = validate_document(yaml.safe_load((run_dir / "config.resolved.yaml").read_text()))
    assert head.group(2).replace("&#x27;", "'") == headline_sentence(summary, scenario)
    assert f'data-estimate="{summary["probability"]["estimate"]!r}"' in head.group(1)
    cond = summary["conditional"]
    assert f"is {pct(cond['estimate'])} (epistemic range" in html
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config_sha256"] in html and str(summary["seed"]) in html
    for name, d in scenario.drivers.items():      # the evidence table names every driver and its basis
        assert f"<td>{name}</td>" in html
    md = md_path.read_text(encoding="utf-8")
    assert f"**{headline_sentence(summary, scenario)}**" in md
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(linked) == 5 and "report_figures/choices.png" in linked and all((md_path.parent / p).is_file() for p in linked)


@pytest.mark.slow
def test_extra_folders_are_embedded_generically(run_dir, report, tmp_path):
    sweep = tmp_path / "sweep-a"
    sweep.mkdir()
    shutil.copy(run_dir / "report_figures" / "gap_fan.png", sweep / "heatmap.png")
    (sweep / "table.csv").write_text("weight,p\n" + "".join(f"{i / 10},{i / 100}\n" for i in range(60)))
    (sweep / "manifest.json").write_text(json.dumps({"kind": "sweep", "points": 60}))
    back = tmp_path / "bt"
    back.mkdir()
    (back / "backtest.csv").write_text("case,brier\narmenia,0.125\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    html_path, md_path = build_report(run_dir, sweeps=[sweep], backtests=[back], sensitivity=[empty],
                                      out=tmp_path / "rep")
    html = html_path.read_text()
    assert len(_images(html)) == 6 and "Sweep: sweep-a" in html and "table.csv (first 40 of 60 rows)" in html
    assert "<td>armenia</td><td>0.125</td>" in html and "<td>points</td><td>60</td>" in html
    assert "No tables (*.csv) or figures (*.png) found" in html
    md = md_path.read_text()
    assert "| armenia | 0.125 |" in md and "sweep-sweep-a-heatmap.png" in md


@pytest.mark.slow
def test_bad_input_is_one_clear_error(run_dir, report, tmp_path, capsys):
    with pytest.raises(RunError, match="a report exists; pass --replace"):
        build_report(run_dir)
    with pytest.raises(RunError, match="missing summary.json"):
        (tmp_path / "half").mkdir()
        build_report(tmp_path / "half")
    figs = tmp_path / "theirs" / "report_figures"  # a folder holding someone's own figures
    figs.mkdir(parents=True)
    (figs / "cumulative.png").write_text("precious")
    with pytest.raises(RunError, match="report_figures: a report exists"):
        build_report(run_dir, out=tmp_path / "theirs")
    assert (figs / "cumulative.png").read_text() == "precious"
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert main(["report", str(run_dir), "--replace", "--sweep", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not a folder" in err[0] and "--sweep" in err[1]


@pytest.mark.slow
def test_run_writes_the_report_unless_asked_not_to(tmp_path, capsys):
    args = ["run", str(CONFIG / "base.yaml"), "--replicates", "500", "--seed", "1"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "report.html").is_file() and (tmp_path / "a" / "report.md").is_file()
    assert "Report: " in capsys.readouterr().out
    assert main(args + ["--out", str(tmp_path / "b"), "--no-report"]) == 0
    assert (tmp_path / "b" / "summary.json").is_file() and not (tmp_path / "b" / "report.html").exists()


CHECK_SCRIPT = """<pre id="imgcheck"></pre><script>
window.addEventListener('load', function () {
  var r = Array.from(document.images).map(function (i) {
    return {name: i.dataset.name, ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth}; });
  document.getElementById('imgcheck').textContent = JSON.stringify(r);
});
</script></body>"""


def _chromium(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.slow
def test_chromium_loads_every_image_and_shows_the_headline(run_dir, report):
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium with apt")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    html_path, _ = report
    html = html_path.read_text(encoding="utf-8")
    check = html_path.with_name("report_check.html")
    check.write_text(html.replace("</body>", CHECK_SCRIPT), encoding="utf-8")
    proc = _chromium("--virtual-time-budget=5000", "--dump-dom", check.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="imgcheck">([^<]*)</pre>', proc.stdout)
    assert found, "the check script did not run"
    results = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(results) == len(_images(html)) == 5
    assert all(r["ok"] for r in results), results
    summary = json.loads((run_dir / "summary.json").read_text())
    p = summary["probability"]
    head = re.search(r'<p id="headline"[^>]*>([^<]*)</p>', proc.stdout).group(1)
    assert f"is {pct(p['estimate'])} (epistemic range {pct(p['epistemic_low'])}-{pct(p['epistemic_high'])}" in head
    assert f"Monte Carlo 95% interval {pct(p['ci_low'])}-{pct(p['ci_high'])}" in head
    shot = run_dir / "report_screenshot.png"
    proc = _chromium("--window-size=1200,2400", "--hide-scrollbars", f"--screenshot={shot}", html_path.as_uri())
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2400, 1200) and pixels.std() > 10   # not a blank page
    keep = os.environ.get("ALIGNSIM_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "report_screenshot.png")


@pytest.mark.slow
def test_a_scenario_without_drivers_gets_a_report_that_says_so(tmp_path, write_doc):
    """Planted: a scenario with no drivers at all (only intercepts and the barrier). The report
    used to stop on an empty driver table; it must be written and say why the balance is absent."""
    from conftest import minimal_doc

    doc = minimal_doc()
    assert not doc.get("drivers")
    doc["monte_carlo"] = {"replicates": 400, "draws": 40, "seed": 2, "batch_size": 400}
    out = tmp_path / "run"
    run(write_doc(doc), out=out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert not any("report not written" in n for n in manifest.get("notes", []))
    text = (out / "report.md").read_text()
    assert "This scenario has no drivers" in text
    assert "Traceback" not in text
