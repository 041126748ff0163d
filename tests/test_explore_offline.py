"""The explore page with no network: headless Chromium, network blocked by the test (browser and
server). Solara must serve its JavaScript from the installed ``solara-assets`` package.

The browser is driven over Chromium's DevTools protocol (a small client on ``websockets``, which
the Solara server needs anyway): every request the page makes is paused (``Fetch``); one to
127.0.0.1 goes on, any other is failed and counted. The test polls ``document.body.innerText``
in real time until the kernel has drawn the page (``--dump-dom`` stops before the kernel's
websocket answers). With ipyvuetify 1.x (Mesa 3.3 needs it) solara 1.64.1 asks for
``solara-vuetify-app@10.1.1``, ``requirejs@2.3.6`` and ``font-awesome@4.5.0``, all bundled by
solara-assets 1.58.2."""

from __future__ import annotations

import base64
import http.server
import importlib.metadata
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

import numpy as np
import pytest
from PIL import Image

from alignsim import load_scenario
from alignsim.apps.explore import APP_FILE, ExploreModel, slider_specs

from conftest import CONFIG, ROOT, stop_process_group, wait_until_ready

SOLARA = Path(sys.executable).with_name("solara")
CHROMIUM = Path("/usr/bin/chromium")
NOWHERE = "127.0.0.1:9"   # the discard port: nothing listens, every connection is refused
# the browser: every host name resolves to nothing and every other address goes through a proxy to
# nowhere, so only the local server (by IP) is reachable
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--proxy-server={NOWHERE}",
           "--proxy-bypass-list=127.0.0.1"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-features=NetworkTimeServiceQuerying",   # the browser's own clock check (clients2.google.com)
         *OFFLINE]
CDN_PREFIX = "/_solara/cdn/"
SCENARIO = CONFIG / "base.yaml"   # drivers and strategic powers: both kinds of slider
WAIT_S = 150   # real seconds for the kernel to draw the page


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
    env = dict(os.environ, ALIGNSIM_CONFIG=str(SCENARIO),
               SOLARA_ASSETS_CDN=f"http://127.0.0.1:{cdn.server_address[1]}/",
               HTTP_PROXY=f"http://{NOWHERE}", HTTPS_PROXY=f"http://{NOWHERE}", NO_PROXY="127.0.0.1",
               SOLARA_TELEMETRY_MIXPANEL_ENABLE="false")
    log = (tmp_path / "solara.log").open("wb")
    proc = subprocess.Popen([str(SOLARA), "run", str(APP_FILE), "--port", str(port), "--host", "127.0.0.1",
                             "--no-open", "--production"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base + "/readyz", proc, 90, lambda: (tmp_path / "solara.log").read_text())
        yield base, recorder
    finally:
        stop_process_group(proc)
        log.close()
        cdn.shutdown()
        cdn.server_close()


class _Cdp:
    """A DevTools-protocol session with one page: ``call`` sends a command and returns its result;
    meanwhile every event is handled. Requests paused by ``Fetch`` go on when they are for
    ``allowed_host`` and fail (``BlockedByClient``) otherwise; ``blocked`` lists the failed URLs,
    ``requested`` every URL the page asked for (``Network.requestWillBeSent`` and websockets)."""

    def __init__(self, ws_url: str, allowed_host: str):
        self.ws = connect(ws_url, max_size=2**26, open_timeout=30)
        self.allowed = allowed_host
        self.next_id = 0
        self.blocked: list[str] = []
        self.requested: list[str] = []
        self.errors: list[str] = []

    def _local(self, url: str) -> bool:
        return urllib.parse.urlsplit(url).hostname == self.allowed or not url.startswith(("http", "ws"))

    def _event(self, msg: dict) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Fetch.requestPaused":
            url = params["request"]["url"]
            if self._local(url):
                self._send("Fetch.continueRequest", {"requestId": params["requestId"]})
            else:
                self.blocked.append(url)
                self._send("Fetch.failRequest", {"requestId": params["requestId"], "errorReason": "BlockedByClient"})
        elif method == "Network.requestWillBeSent":
            self.requested.append(params["request"]["url"])
        elif method == "Network.webSocketCreated":
            self.requested.append(params["url"])
        elif method == "Runtime.exceptionThrown":
            self.errors.append(params["exceptionDetails"].get("text", "") + " " +
                               str(params["exceptionDetails"].get("exception", {}).get("description", ""))[:300])

    def _send(self, method: str, params: dict | None = None) -> int:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        return self.next_id

    def call(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        sent = self._send(method, params)
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == sent:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def pump(self, seconds: float) -> None:
        """Handle events for ``seconds`` (paused requests must be answered while we wait)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self._event(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                return

    def close(self) -> None:
        self.ws.close()


_PAGE_STATE = """JSON.stringify({text: document.body ? document.body.innerText : "",
  images: Array.from(document.images).map(i => [i.src.slice(0, 22), i.naturalWidth, i.naturalHeight])})"""


@pytest.fixture
def chromium(tmp_path):
    """Headless Chromium with a DevTools port, its names resolving nowhere and its proxy nowhere.
    Yields (DevTools base URL, NetLog path)."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium with apt")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    netlog = tmp_path / "netlog.json"
    proc = subprocess.Popen([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             "--window-size=1400,1800", "--hide-scrollbars", f"--log-net-log={netlog}",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chromium gave no DevTools port (exit {proc.poll()})")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port_file.read_text().split()[0]}", netlog
    finally:
        stop_process_group(proc)
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.slow
def test_explore_page_renders_in_chromium_with_the_network_blocked(solara_server, chromium, tmp_path):
    base, cdn = solara_server
    devtools, netlog = chromium
    status, html = _get(base + "/")
    assert status == 200
    html = html.decode()
    assert "utility gap dU" not in html   # the page's text is drawn by its JavaScript, not served
    scripts = set(re.findall(r'src="[^"]*?/_solara/cdn/([^"]+)"', html))

    # what the page must show: the scenario's sliders at their defaults and the default model's dU
    scenario = load_scenario(SCENARIO)
    specs = slider_specs(scenario)
    driver = next(k for k in specs if k.startswith("w_"))
    power = next(k for k in specs if k.startswith("u_"))
    gap = float(ExploreModel(str(SCENARIO)).focal.gap[0])

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    targets = json.loads(opener.open(devtools + "/json/list", timeout=20).read())
    page = next(t for t in targets if t.get("type") == "page")
    cdp = _Cdp(page["webSocketDebuggerUrl"], "127.0.0.1")
    try:
        cdp.call("Network.enable")
        cdp.call("Runtime.enable")
        cdp.call("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
        cdp.call("Page.navigate", {"url": base + "/"})
        deadline, state = time.monotonic() + WAIT_S, {"text": "", "images": []}
        while time.monotonic() < deadline:
            cdp.pump(1.0)
            state = json.loads(cdp.call("Runtime.evaluate", {"expression": _PAGE_STATE, "returnByValue": True})
                               ["result"]["value"])
            drawn = [i for i in state["images"] if i[0].startswith(("data:image/png", "blob:")) and i[1] > 100]
            if "utility gap dU" in state["text"] and specs[power]["label"] in state["text"] and len(drawn) >= 2:
                break
        shot = cdp.call("Page.captureScreenshot", {"format": "png"})["data"]
        cdp.pump(1.0)
    finally:
        cdp.close()

    text = state["text"]
    assert "utility gap dU" in text, (text[-3000:], cdp.errors)
    assert f"utility gap dU = {gap:+.3f} logit units" in text, text[-3000:]   # the default model's dU
    assert specs[driver]["label"] in text and specs[power]["label"] in text, text[-3000:]   # named sliders
    assert "seed" in text
    drawn = [i for i in state["images"] if i[0].startswith(("data:image/png", "blob:")) and i[1] > 100]
    assert len(drawn) >= 2, state["images"]   # the gap plot and the states plot, decoded
    assert "Missing required" not in text and "Traceback" not in text, text[-3000:]

    # nothing came from outside: every request was for 127.0.0.1, none was blocked
    outside = sorted({u for u in cdp.requested if u.startswith(("http", "ws")) and not cdp._local(u)})
    assert cdp.blocked == [] and outside == [], (cdp.blocked[:10], outside[:10])
    assert any(u.startswith(base + CDN_PREFIX) for u in cdp.requested)
    assert any(u.startswith("ws://127.0.0.1") for u in cdp.requested)   # the kernel's websocket
    assert cdn.asked == [], cdn.asked
    bundled = _bundled_cdn_paths()
    assert scripts and scripts <= bundled, sorted(scripts - bundled)
    cdn_paths = {u[len(base) + len(CDN_PREFIX):].split("?")[0] for u in cdp.requested
                 if u.startswith(base + CDN_PREFIX)}
    assert cdn_paths <= bundled, sorted(cdn_paths - bundled)
    # the browser's own services (update and clock checks) still try to go out; --host-resolver-rules
    # resolves their names to nothing, so they cannot; they are counted, not asserted
    background = {urllib.parse.urlsplit(u).hostname for u in _requested_urls(netlog) if u.startswith("http") and not cdp._local(u)} \
        if netlog.is_file() else set()

    image = Image.open(io.BytesIO(base64.b64decode(shot)))
    pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 10   # not a blank page
    keep = os.environ.get("ALIGNSIM_SCREENSHOT_DIR")
    if keep:
        image.save(Path(keep) / "explore_offline.png")
    print(f"offline page: {len(cdp.requested)} requests, all to 127.0.0.1 ({len(cdn_paths)} CDN files "
          f"from solara-assets); {len(cdp.blocked)} blocked; dU {gap:+.3f}; {len(drawn)} plots; "
          f"browser background hosts (unresolvable): {sorted(background)}")
