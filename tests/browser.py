"""Headless Chromium for the tests, driven over the DevTools protocol on a pipe.

Chromium's ``--remote-debugging-pipe`` reads commands on file descriptor 3 and
writes replies and events on 4, each a JSON object ended by a NUL byte. That is
all the tests need (load a page, collect console messages and errors, measure
elements, take a screenshot, print to PDF), so no browser-driver package is
needed beside Debian's ``chromium``.

    python -m tests.browser PAGE.html OUT.png [SELECTOR HEIGHT]   # as the README's are made
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
    "--remote-debugging-pipe",
)  # fmt: skip


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(Exception):
    pass


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, executable: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="chainledger-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # Park the child's ends above 10 so that placing them at 3 and 4 cannot clobber them.
        high_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
        high_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
        os.close(to_child_r)
        os.close(from_child_w)

        def place_pipes() -> None:
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=place_pipes, close_fds=False,
        )  # fmt: skip
        os.close(high_r)
        os.close(high_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)

    # -- the protocol --------------------------------------------------------------------------

    def call(self, method: str, *, session: bool = False, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its reply, keeping the events that come meanwhile."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise BrowserError("Chromium closed the pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def wait_for(self, method: str) -> dict[str, Any]:
        """The first event ``method`` not yet consumed, waiting for it if need be."""
        while True:
            for i, event in enumerate(self.events):
                if event["method"] == method:
                    return self.events.pop(i)
            reply = self._read()
            if "method" in reply:
                self.events.append(reply)

    # -- what the tests use ----------------------------------------------------------------------

    def open(self, path: Path, width: int = 1000, height: int = 800, mobile: bool = False) -> None:
        """Load a local file at a viewport of ``width`` x ``height`` CSS pixels."""
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=mobile)  # fmt: skip
        self.call("Page.navigate", session=True, url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", session=True, expression=expression,
                           returnByValue=True, awaitPromise=True)  # fmt: skip
        if "exceptionDetails" in result:
            raise BrowserError(f"evaluating failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and log errors (failed loads,
        Content-Security-Policy violations) seen so far."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails'].get('text')}")
            elif event["method"] == "Runtime.consoleAPICalled" and params["type"] in (
                "error",
                "warning",
                "assert",
            ):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] in (
                "error",
                "warning",
            ):
                found.append(f"log {params['entry']['level']}: {params['entry'].get('text')}")
        return found

    def screenshot(
        self, path: Path, *, top: float = 0, height: float | None = None, width: float | None = None
    ) -> Path:
        """A PNG of the page from ``top`` down (CSS pixels): ``height`` of it, or the rest."""
        size = self.evaluate("[document.documentElement.scrollWidth,"
                             " document.documentElement.scrollHeight]")  # fmt: skip
        clip = {"x": 0, "y": top, "width": width or size[0],
                "height": min(size[1] - top, height or size[1]), "scale": 1}  # fmt: skip
        data = self.call("Page.captureScreenshot", session=True, format="png",
                         captureBeyondViewport=True, clip=clip)["data"]  # fmt: skip
        path.write_bytes(base64.b64decode(data))
        return path

    def top_of(self, selector: str) -> float:
        """Where the element ``selector`` starts, in CSS pixels from the top of the page."""
        return self.evaluate(f"document.querySelector({json.dumps(selector)})"
                             ".getBoundingClientRect().top + window.scrollY")  # fmt: skip

    def pdf(self, path: Path) -> Path:
        """The page printed as its print style sheet asks (A4)."""
        data = self.call("Page.printToPDF", session=True, preferCSSPageSize=True,
                         printBackground=True)["data"]  # fmt: skip
        path.write_bytes(base64.b64decode(data))
        return path


def main(argv: list[str]) -> int:
    """PAGE.html OUT.png [SELECTOR HEIGHT]: a 900-pixel-wide picture of the page, from its top
    or from the element SELECTOR down, HEIGHT pixels tall (1500 by default)."""
    if len(argv) not in (2, 4):
        print("usage: python -m tests.browser PAGE.html OUT.png [SELECTOR HEIGHT]", file=sys.stderr)
        return 2
    executable = chromium_path()
    if executable is None:
        print("Chromium is not installed (Debian: apt-get install chromium)", file=sys.stderr)
        return 1
    with Browser(executable) as browser:
        browser.open(Path(argv[0]), width=900, height=1200)
        top = browser.top_of(argv[2]) - 10 if len(argv) == 4 else 0
        height = float(argv[3]) if len(argv) == 4 else 1500
        browser.screenshot(Path(argv[1]), top=top, height=height)
        problems = browser.problems()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"Wrote {argv[1]}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
