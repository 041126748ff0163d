"""The explore page with no network: headless Chromium, network blocked by the test (browser and
server). Solara must serve its JavaScript from the installed ``solara-assets`` package.

Known failure (strict xfail), two causes left: (1) ``--dump-dom`` ends at the virtual-time budget
before the kernel's websocket answers, so the DOM holds only the template even online; the check
needs a real-time wait (e.g. Chromium's DevTools protocol polling ``document.body.innerText``);
(2) the page itself raises "Missing required model parameter: weights" (Mesa's ModelCreator wants
every argument of ``ExploreModel`` without a default in ``model_params``). The assets are fixed:
with ipyvuetify 1.x (Mesa 3.3 needs it) solara 1.64.1 asks for ``solara-vuetify-app@10.1.1``,
``requirejs@2.3.6`` and ``font-awesome@4.5.0``, all bundled by solara-assets 1.58.2."""

from __future__ import annotations

import http.server
import importlib.metadata
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alignsim.apps.explore import APP_FILE

from conftest import CONFIG, ROOT

SOLARA = Path(sys.executable).with_name("solara")
CHROMIUM = Path("/usr/bin/chromium")
NOWHERE = "127.0.0.1:9"   # the discard port: nothing listens, every connection is refused
# the browser: every host name resolves to nothing and every other address goes through a proxy to
# nowhere, so only the local server (by IP) is reachable
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--proxy-server={NOWHERE}",
           "--proxy-bypass-list=127.0.0.1"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", *OFFLINE]
CDN_PREFIX = "/_solara/cdn/"


class _CdnRecorder(http.server.BaseHTTPRequestHandler):
    """A stand-in CDN for the Solara server: records every path asked of it and answers 404."""

    asked: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        self.asked.append(self.path)
        self.send_error(404)

    def log_message(self, *args):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _bundled_cdn_paths() -> set[str]:
    """Paths under the CDN root shipped by the installed solara-assets (``share/solara/cdn/...``)."""
    try:
        files = importlib.metadata.files("solara-assets") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("solara-assets is not installed: pip install -c requirements.lock -e .")
    paths = {str(f).replace("\\", "/").split("share/solara/cdn/", 1)[-1]
             for f in files if "share/solara/cdn/" in str(f).replace("\\", "/")}
    return paths


def _chromium(profile: str, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout)


def _requested_urls(netlog: Path) -> set[str]:
    """Every URL the browser asked for, from Chromium's NetLog (``--log-net-log``)."""
    text = netlog.read_text(encoding="utf-8", errors="replace")
    return set(re.findall(r'"url":\s*"([^"]+)"', text))


@pytest.fixture
def solara_server(tmp_path):
    """``solara run`` of the explore page on 127.0.0.1, itself cut off from the network: its CDN is a
    local recorder answering 404 and its HTTP(S) proxy is nowhere. Yields (base URL, recorder)."""
    if not SOLARA.is_file():
        pytest.fail(f"{SOLARA} missing: solara is a dependency (pip install -c requirements.lock -e .)")
    recorder = type("Rec", (_CdnRecorder,), {"asked": []})
    cdn = http.server.ThreadingHTTPServer(("127.0.0.1", 0), recorder)
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    port = _free_port()
    env = dict(os.environ, ALIGNSIM_CONFIG=str(CONFIG / "base.yaml"),
               SOLARA_ASSETS_CDN=f"http://127.0.0.1:{cdn.server_address[1]}/",
               HTTP_PROXY=f"http://{NOWHERE}", HTTPS_PROXY=f"http://{NOWHERE}", NO_PROXY="127.0.0.1",
               SOLARA_TELEMETRY_MIXPANEL_ENABLE="false")
    log = (tmp_path / "solara.log").open("wb")
    proc = subprocess.Popen([str(SOLARA), "run", str(APP_FILE), "--port", str(port), "--host", "127.0.0.1",
                             "--no-open", "--production"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _get(base + "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"solara server did not start: {(tmp_path / 'solara.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield base, recorder
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()
        cdn.shutdown()
        cdn.server_close()


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="dump-dom does not wait for the kernel; the page raises 'Missing required model parameter: weights'")
def test_explore_page_renders_in_chromium_with_the_network_blocked(solara_server, tmp_path):
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium with apt")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    base, cdn = solara_server
    status, html = _get(base + "/")
    assert status == 200
    html = html.decode()
    assert "utility gap dU" not in html   # the page's text is drawn by its JavaScript, not served
    scripts = set(re.findall(r'src="[^"]*?/_solara/cdn/([^"]+)"', html))

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    netlog = tmp_path / "netlog.json"
    try:
        proc = _chromium(profile, "--virtual-time-budget=30000", "--window-size=1400,1800",
                         f"--log-net-log={netlog}", "--dump-dom", base + "/")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "utility gap dU" in dom and "logit units" in dom, dom[-3000:]   # the Status component
    assert re.search(r"<img[^>]+src=\"(data:image/png|blob:)", dom), "no plot image in the page"
    assert ">seed<" in dom   # a slider label
    # nothing came from outside: the browser fetched only the local server, the server's CDN saw nothing
    urls = _requested_urls(netlog)
    outside = {u for u in urls if u.startswith("http") and not u.startswith(base)}
    assert not outside, sorted(outside)[:10]
    assert cdn.asked == [], cdn.asked
    bundled = _bundled_cdn_paths()
    assert scripts and scripts <= bundled, sorted(scripts - bundled)
    cdn_paths = {u[len(base) + len(CDN_PREFIX):].split("?")[0] for u in urls if u.startswith(base + CDN_PREFIX)}
    assert cdn_paths and cdn_paths <= bundled, sorted(cdn_paths - bundled)

    shot = tmp_path / "explore_offline.png"
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        proc = _chromium(profile, "--virtual-time-budget=30000", "--window-size=1400,1800", "--hide-scrollbars",
                         f"--screenshot={shot}", base + "/")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (1800, 1400) and pixels.std() > 10   # not a blank page
    keep = os.environ.get("ALIGNSIM_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "explore_offline.png")
