"""A page in headless Chromium over the DevTools protocol: the console, every network request, the laid-out boxes of
chosen elements, and a full-page screenshot. Debian's `chromium` (make test installs it) and the `websockets`
package already in the lock: no browser download, no driver."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from websockets.sync.client import connect

BINARIES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)
WIDTH = 1280


def chromium_binary() -> str:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "no chromium on PATH: `make test` installs Debian's chromium (apt-get install chromium)"
    )


@dataclass
class PageLoad:
    url: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, the page's own included
    evaluated: object = None
    png: bytes = b""


class Browser:
    """One headless Chromium process with its own profile folder; one tab driven over CDP."""

    # 90 s: on two busy cores (the suite's other worker building dbt) Chromium once took over 30 s to listen
    def __init__(self, profile: Path, timeout_s: float = 90.0):
        self.timeout_s = timeout_s
        profile.mkdir(parents=True, exist_ok=True)
        port_file = profile / "DevToolsActivePort"  # Chromium writes its chosen port here once it listens
        port_file.unlink(missing_ok=True)  # a reused profile's file names a port long closed
        self.log = (profile / "chromium.log").open("wb")
        self.process = subprocess.Popen(
            [
                chromium_binary(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},900",
                "about:blank",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout_s
            while not (port_file.exists() and port_file.read_text().strip()):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not start; see {profile / 'chromium.log'}")
                time.sleep(0.05)
            port = int(port_file.read_text().split()[0])
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=timeout_s).json()
            page = next(t for t in targets if t["type"] == "page")
            self.stack = ExitStack()
            self.ws = self.stack.enter_context(
                connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout_s)
            )
        except BaseException:
            self.close()  # never leave a browser behind
            raise
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        while True:
            message = json.loads(self.ws.recv(timeout=self.timeout_s))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, event: str) -> dict:
        deadline = time.monotonic() + self.timeout_s
        while True:
            for message in self.events:
                if message.get("method") == event:
                    return message
            self.events.append(json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01))))

    def load(self, page: Path, script: str) -> PageLoad:
        """Open `page`, wait for its load event, evaluate `script` (its JSON result), take a full-page PNG."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )
        url = page.resolve().as_uri()
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")
        result = PageLoad(url)
        result.evaluated = json.loads(
            self.send("Runtime.evaluate", {"expression": script, "returnByValue": True})["result"]["value"]
        )
        height = self.send("Runtime.evaluate", {"expression": "document.documentElement.scrollHeight"})
        shot = self.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height["result"]["value"], "scale": 1},
            },
        )
        result.png = base64.b64decode(shot["data"])
        for message in self.events:
            method, params = message.get("method"), message.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                result.console_errors.append(json.dumps(params.get("args")))
            elif method == "Runtime.exceptionThrown":
                result.console_errors.append(json.dumps(params.get("exceptionDetails")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                result.console_errors.append(params["entry"].get("text", ""))
            elif method == "Network.requestWillBeSent":
                result.requests.append(params["request"]["url"])
        return result

    def close(self) -> None:
        stack = getattr(self, "stack", None)
        if stack is not None:
            stack.close()
        self.process.kill()
        self.process.wait()
        self.log.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
