"""Headless Chromium (Debian's /usr/bin/chromium) with the network cut off, driven by Playwright.

Used by the deck's measurement (``python -m talk.slides measure``) and its tests. Every request that is
not for a local file (or a loopback origin the caller allows) is aborted and recorded, and a dead proxy
catches anything routing misses, so a page that needs the network shows up as blocked requests instead
of quietly working on a connected machine. Playwright never downloads a browser here: it launches the
system Chromium (``playwright install`` is not needed and must not run).
"""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions", "--hide-scrollbars",
    "--mute-audio",
    # No network: a proxy nobody listens on, also for loopback ("<-loopback>" removes the bypass).
    "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
]
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "devtools:", "chrome:")


class BrowserError(RuntimeError):
    pass


class OfflinePage:
    """One tab of a fresh headless Chromium without network. Use as a context manager."""

    def __init__(self, width: int = 1280, height: int = 720, timeout: float = 30.0, allow_origin: str = ""):
        """``allow_origin``: a loopback origin ("http://127.0.0.1:8888") the page may also load from."""
        if allow_origin and not allow_origin.startswith(("http://127.0.0.1:", "ws://127.0.0.1:")):
            raise ValueError("only a loopback origin can be allowed")
        self.width, self.height, self.timeout = width, height, timeout
        self.allow_origin = allow_origin
        self.exceptions: list[str] = []  # uncaught JS exceptions
        self.console_errors: list[str] = []  # console.error messages
        self.failed_requests: list[str] = []  # blocked (network) or failed loads
        self.requests: list[str] = []  # every URL the page asked for

    def __enter__(self) -> OfflinePage:
        from playwright.sync_api import sync_playwright

        if not Path(CHROMIUM).exists():
            raise BrowserError(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
        flags = FLAGS
        if self.allow_origin:  # loopback bypasses the dead proxy; everything else still goes nowhere
            flags = [f for f in FLAGS if not f.startswith("--proxy-bypass-list")]
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(executable_path=CHROMIUM, args=flags,
                                                             timeout=self.timeout * 1000)
            self._context = self._browser.new_context(
                viewport={"width": self.width, "height": self.height}, device_scale_factor=1,
                service_workers="block",
            )
            self._context.set_default_timeout(self.timeout * 1000)
            self._context.route("**/*", self._route)
            self.page = self._context.new_page()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("requestfailed", self._on_failed)
        self.page.on("pageerror", lambda error: self.exceptions.append(str(error)))
        self.page.on("console", self._on_console)
        return self

    def __exit__(self, *exc):
        browser = getattr(self, "_browser", None)
        if browser is not None:
            browser.close()
        self._playwright.stop()

    def _route(self, route):
        url = route.request.url
        allowed = self.allow_origin and (url == self.allow_origin or url.startswith(self.allow_origin + "/"))
        if url.startswith(LOCAL_SCHEMES) or allowed:
            route.continue_()
        else:
            self.failed_requests.append(f"blocked (network): {url}")
            route.abort("internetdisconnected")

    def _on_failed(self, request):
        failure = f"{request.resource_type}: {request.failure} {request.url[:80]}"
        if not any(request.url in blocked for blocked in self.failed_requests):
            self.failed_requests.append(failure)

    def _on_console(self, message):
        if message.type == "error":
            self.console_errors.append(message.text)

    # --- page -----------------------------------------------------------------------------------
    def evaluate(self, expression: str, arg=None):
        """Value of a JS expression or function (awaited if it is a promise)."""
        return self.page.evaluate(expression, arg)

    def wait_for(self, expression: str, timeout: float | None = None):
        """Wait until a JS expression is truthy; returns its value."""
        handle = self.page.wait_for_function(expression, timeout=(timeout or self.timeout) * 1000)
        return handle.json_value()

    def open(self, path: Path | str, query: str = ""):
        """Load a local file (or a URL of the allowed origin) and wait for its load event.

        ``query`` ("?talk=20") is appended to a file's URL: the deck reads its options from there.
        """
        url = path if isinstance(path, str) and "://" in path else Path(path).resolve().as_uri() + query
        self.page.goto(url, wait_until="load")

    def pause(self, seconds: float):
        """Let the page run (transitions, decoding)."""
        self.page.wait_for_timeout(seconds * 1000)

    def screenshot(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
        return path

