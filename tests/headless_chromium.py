"""Headless Chromium with the network cut off, driven over the DevTools protocol (for the deck's tests).

Every request that is not for a file: or data: URL is failed by the browser (Fetch interception) and
recorded, and a dead proxy catches anything interception misses, so a page that needs the network shows
up as failed requests instead of quietly working on a connected machine.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import websocket

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--hide-scrollbars", "--mute-audio",
    # No network: a proxy nobody listens on, also for loopback ("<-loopback>" removes the bypass).
    "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
]
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "devtools:", "chrome:")


class BrowserError(RuntimeError):
    pass


class OfflinePage:
    """One tab of a fresh headless Chromium without network. Use as a context manager."""

    def __init__(self, width: int = 1280, height: int = 800, timeout: float = 30.0, allow_origin: str = ""):
        """``allow_origin``: a loopback origin ("http://127.0.0.1:8888") the page may also load from."""
        if allow_origin and not allow_origin.startswith(("http://127.0.0.1:", "ws://127.0.0.1:")):
            raise ValueError("only a loopback origin can be allowed")
        self.width, self.height, self.timeout = width, height, timeout
        self.allow_origin = allow_origin
        self.exceptions: list[str] = []  # uncaught JS exceptions
        self.console_errors: list[str] = []  # console.error and browser log errors
        self.failed_requests: list[str] = []  # blocked or failed loads
        self.requests: list[str] = []  # every URL the page asked for
        self._ids = itertools.count(1)

    def __enter__(self) -> OfflinePage:
        if not Path(CHROMIUM).exists():
            raise BrowserError(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
        self._profile = tempfile.mkdtemp(prefix="chromium-profile-")
        flags = FLAGS
        if self.allow_origin:  # loopback bypasses the dead proxy; everything else still goes nowhere
            flags = [f for f in FLAGS if not f.startswith("--proxy-bypass-list")]
        self._proc = subprocess.Popen(
            [CHROMIUM, *flags, f"--user-data-dir={self._profile}", "--remote-debugging-port=0",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            self._connect()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        ws = getattr(self, "_ws", None)
        if ws is not None:
            ws.close()
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    def _connect(self):
        # Chromium writes the port it picked into the profile; the browser endpoint is on loopback.
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise BrowserError("Chromium did not start")
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self._ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=self.timeout,
                                               suppress_origin=True)
        self._session = None
        targets = self.send("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        attached = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)
        self._session = attached["sessionId"]
        self.send("Fetch.enable", patterns=[{"urlPattern": "*"}])
        self.send("Network.enable")
        self.send("Runtime.enable")
        self.send("Log.enable")
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                  deviceScaleFactor=1, mobile=False)

    # --- protocol -------------------------------------------------------------------------------
    def send(self, method: str, **params):
        """Call a DevTools method and return its result, handling the events that arrive meanwhile."""
        message = {"id": next(self._ids), "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        self._ws.send(json.dumps(message))
        while True:
            reply = self._receive()
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _receive(self) -> dict:
        message = json.loads(self._ws.recv())
        if "method" in message:
            self._on_event(message["method"], message.get("params", {}))
        return message

    def _on_event(self, method: str, params: dict):
        if method == "Fetch.requestPaused":
            url = params["request"]["url"]
            self.requests.append(url)
            reply = {"id": next(self._ids), "sessionId": self._session,
                     "params": {"requestId": params["requestId"]}}
            allowed = self.allow_origin and url.startswith(self.allow_origin + "/")
            if url.startswith(LOCAL_SCHEMES) or allowed:
                reply["method"] = "Fetch.continueRequest"
            else:
                self.failed_requests.append(f"blocked (network): {url}")
                reply["method"] = "Fetch.failRequest"
                reply["params"]["errorReason"] = "InternetDisconnected"
            self._ws.send(json.dumps(reply))  # its own reply is skipped by send() as it has another id
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            self.failed_requests.append(f"{params.get('type')}: {params.get('errorText')}"
                                        f"{' (blocked)' if params.get('blockedReason') else ''}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.exceptions.append(details.get("exception", {}).get("description") or details.get("text"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            args = params["args"]
            self.console_errors.append(" ".join(str(a.get("value", a.get("description"))) for a in args))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.console_errors.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")

    # --- page -----------------------------------------------------------------------------------
    def evaluate(self, expression: str):
        """Value of a JS expression (awaited if it is a promise); raises on a JS exception."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float | None = None):
        """Poll a JS expression until it is truthy; returns its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise BrowserError(f"timed out waiting for {expression}")

    def open(self, path: Path | str):
        """Load a local file (or a URL of the allowed origin) and wait for its load event."""
        url = path if isinstance(path, str) and "://" in path else Path(path).resolve().as_uri()
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def pause(self, seconds: float):
        """Let the page run (transitions, decoding) while still answering its requests."""
        self.evaluate(f"new Promise(resolve => setTimeout(resolve, {int(seconds * 1000)}))")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
