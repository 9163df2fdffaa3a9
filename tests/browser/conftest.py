"""Fixtures for the browser tests: servers on 127.0.0.1 and Debian's Chromium driven by Playwright.

- ``browser``: one headless Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``) for the
  session. Without it the tests skip, saying how to install it; when the ``CI``
  environment variable is set (``.ci/run`` sets it) they fail instead.
- ``start_server(command, ready_path, ...)``: starts a server in its own process
  group on a free port of 127.0.0.1, waits until ``ready_path`` answers, and at the
  end sends SIGTERM to the whole group (the server and the kernels it started),
  then SIGKILL to whatever is left.
- ``new_page()``: a page whose every request to a host other than 127.0.0.1 is
  blocked and recorded; the test fails at teardown if there was any.
- ``artifacts``: tests/artifacts/ (gitignored): screenshots, server logs, timings.

Playwright's browser download (``playwright install``) is never used.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
INSTALL_HINT = (
    "install Debian's Chromium with `apt-get install -y chromium` (or set CHROMIUM to a "
    "Chromium binary) and the test requirements with `pip install -r requirements-test.txt`; "
    "`playwright install` is not needed"
)
LOCAL_HOSTS = {"127.0.0.1"}
LOCAL_SCHEMES = {"data", "blob", "about"}


def _browser_problem() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


def _missing(reason: str):
    message = f"browser tests need a browser: {reason}; {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser():
    problem = _browser_problem()
    if problem:
        _missing(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server process (own process group) on 127.0.0.1:port; ``url(path)`` builds addresses."""

    def __init__(self, command, port, log_path, env=None, cwd=ROOT):
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, path: str, timeout: float):
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with status {self.process.returncode} before it was ready; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url(path), timeout=5) as response:
                    if response.status < 500:
                        return
            except urllib.error.HTTPError as error:
                if error.code < 500:
                    return
                last_error = error
            except OSError as error:
                last_error = error
            time.sleep(0.2)
        raise TimeoutError(f"server not ready at {self.url(path)} after {timeout} s ({last_error}); "
                           f"log {self.log_path}:\n{self.log_tail()}")

    def stop(self):
        """SIGTERM to the process group (server and kernels), SIGKILL after 15 s."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        # kernels may outlive the server by a moment: kill whatever is left of the group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self._log.close()


@pytest.fixture(scope="session")
def start_server(artifacts):
    """``start_server(make_command, ready_path, name, env=None, timeout=120)`` -> Server.

    ``make_command(port)`` returns the command line; the server is stopped at the end
    of the session (tests/browser/ modules ask for it through module-scoped fixtures,
    which stop theirs earlier with ``server.stop()``).
    """
    servers = []

    def start(make_command, ready_path, name, env=None, timeout=120.0):
        port = free_port()
        server = Server(make_command(port), port, artifacts / f"{name}.log", env=env)
        servers.append(server)
        try:
            server.wait_ready(ready_path, timeout)
        except BaseException:
            server.stop()
            raise
        return server

    yield start
    for server in servers:
        if server.process.returncode is None or server.process.poll() is None:
            server.stop()


class OffsiteRequests(list):
    """Requests to hosts other than 127.0.0.1, blocked: (resource type, url) pairs."""


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname in LOCAL_HOSTS


@pytest.fixture
def new_page(browser):
    """``new_page(viewport=(w, h), service_workers="block")`` -> Page.

    Off-site requests are blocked, recorded and fail the test. JupyterLab needs
    ``service_workers="allow"``: with service workers blocked, Run All queued the
    cells and none ran (measured with JupyterLab 4.6.6).
    """
    contexts = []
    blocked = OffsiteRequests()

    def make(viewport=(1300, 1000), service_workers="block"):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                      service_workers=service_workers)

        def guard(route):
            request = route.request
            if _is_local(request.url):
                route.continue_()
            else:
                blocked.append((request.resource_type, request.url))
                route.abort("blockedbyclient")

        context.route("**/*", guard)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.blocked_requests = blocked
        return page

    yield make
    for context in contexts:
        context.unroute_all(behavior="ignoreErrors")
        context.close()
    assert not blocked, "requests to addresses other than 127.0.0.1 (blocked):\n" + "\n".join(
        f"  {kind}: {url}" for kind, url in blocked)


@pytest.fixture(scope="session")
def record_timing(artifacts):
    """``record_timing(dashboard, knob, ms)``: collected in tests/artifacts/response_times.json."""
    timings = []

    def record(dashboard, knob, ms):
        timings.append({"dashboard": dashboard, "knob": knob, "response_ms": round(ms)})

    yield record
    if timings:
        path = artifacts / "response_times.json"
        path.write_text(json.dumps(timings, indent=1) + "\n")
        print("\nresponse times (action -> new picture in the page):", file=sys.stderr)
        for entry in timings:
            print(f"  {entry['dashboard']:<28} {entry['knob']:<34} {entry['response_ms']:>6} ms", file=sys.stderr)


