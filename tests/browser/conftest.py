"""Fixtures for the browser tests: servers on 127.0.0.1 and Debian's Chromium driven by Playwright.

- ``browser``: one headless Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``) for the
  session. Without it the tests skip, saying how to install it; when the ``CI``
  environment variable is set (``.ci/run`` sets it) they fail instead.
- ``start_server(command, ready_path, ...)``: starts a server in its own process
  group on a free port of 127.0.0.1 and waits until ``ready_path`` answers.
  ``server.stop()`` stops the server and the kernels it started: the kernels run in
  sessions of their own (jupyter_client starts them so), out of reach of a signal to
  the server's process group, so the server's descendants are recorded first, the
  group gets SIGTERM (the server shuts its kernels down), and any recorded process
  still alive afterwards gets SIGTERM, then SIGKILL. It is an error if one is left.
- ``new_page()``: a page whose every request to a host other than 127.0.0.1, HTTP or
  WebSocket, is blocked and recorded; the test fails at teardown if there was any.
  Service workers are blocked (they could fetch past the guard).
- ``artifacts``: tests/artifacts/ (gitignored): screenshots, server logs, timings.
- ``record_timing(...)``: response times, written to tests/artifacts/response_times.json
  and listed in pytest's terminal summary (so CI logs show them).

Playwright's browser download (``playwright install``) is never used.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
from browser_helpers import in_ci

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
LOCAL_SCHEMES = {"data", "blob", "about", "file"}  # never leave the machine


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
    if in_ci():
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


def _running(processes) -> list:
    """The psutil processes of `processes` that have not ended (a zombie has ended: it
    only waits to be reaped by whoever adopted it)."""
    running = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
    return running


def _wait_until_ended(processes, timeout: float) -> list:
    """Wait up to `timeout` s for `processes` to end; returns those still running."""
    deadline = time.monotonic() + timeout
    running = _running(processes)
    while running and time.monotonic() < deadline:
        time.sleep(0.1)
        running = _running(running)
    return running


def _signal(processes, signum):
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signum)


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
        self.stopped = False
        self.started_processes = []  # psutil processes: the server's descendants when it was stopped
        self.terminated = []  # those still running once the server had gone
        self.left_over = []  # those still running after SIGTERM and SIGKILL

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def descendants(self) -> list:
        """Every running process the server started (its kernels, and what they started):
        psutil processes, which know their start time (a reused pid is another process)."""
        try:
            return _running(psutil.Process(self.process.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            return []

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

    def stop(self, check: bool = True, own_end_wait: float = 10, term_wait: float = 5):
        """Stop the server and the kernels it started.

        1. record the server's descendants (kernels run in sessions of their own, so a
           signal to the server's process group does not reach them);
        2. SIGTERM to the server's group (the server shuts its kernels down), SIGKILL
           to what is left of the group after 15 s;
        3. any recorded process still alive `own_end_wait` s after the server has gone
           gets SIGTERM, then SIGKILL after `term_wait` s.

        With `check`, raises AssertionError if a recorded process is still alive then.
        How each one ended is written at the end of the server's log.
        """
        if self.stopped:
            return
        self.stopped = True
        self.started_processes = self.descendants()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        # a kernel whose server has gone also ends by itself (its parent poller notices)
        self.terminated = _wait_until_ended(self.started_processes, timeout=own_end_wait)
        _signal(self.terminated, signal.SIGTERM)
        still_alive = _wait_until_ended(self.terminated, timeout=term_wait)
        _signal(still_alive, signal.SIGKILL)
        self.left_over = _wait_until_ended(still_alive, timeout=5)
        self._log.write((
            f"\n[browser tests] server stopped (status {self.process.returncode}); it had started "
            f"{len(self.started_processes)} process(es); ended on their own: "
            f"{len(self.started_processes) - len(self.terminated)}; terminated by the fixture: "
            f"{self.terminated}; left over: {self.left_over}\n").encode())
        self._log.close()
        if check:
            assert not self.left_over, (
                f"processes started by the server are still running after SIGTERM and SIGKILL: "
                f"{self.left_over}")


@pytest.fixture(scope="session")
def start_server(artifacts):
    """``start_server(make_command, ready_path, name, env=None, timeout=120)`` -> Server.

    ``make_command(port)`` returns the command line; the server and its kernels are
    stopped at the end of the session at the latest (tests/browser/ modules ask for it
    through module-scoped fixtures, which stop theirs earlier with ``server.stop()``).
    At teardown no process any server started may be left.
    """
    servers = []

    def start(make_command, ready_path, name, env=None, timeout=120.0):
        port = free_port()
        server = Server(make_command(port), port, artifacts / f"{name}.log", env=env)
        servers.append(server)
        try:
            server.wait_ready(ready_path, timeout)
        except BaseException:
            server.stop(check=False)
            raise
        return server

    yield start
    for server in servers:
        server.stop(check=False)
    left_over = {server.log_path.name: server.left_over for server in servers if server.left_over}
    assert not left_over, f"processes the servers started are still running: {left_over}"


class OffsiteRequests(list):
    """Requests to hosts other than 127.0.0.1, blocked: (resource type, url) pairs."""


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname in LOCAL_HOSTS


@pytest.fixture
def new_page(browser):
    """``new_page(viewport=(w, h))`` -> Page in a context of its own.

    Every request to a host other than 127.0.0.1 is blocked, recorded and fails the
    test: HTTP(S) through ``context.route`` and WebSockets through
    ``context.route_web_socket`` (``route`` does not see WebSockets). Service workers
    are blocked: requests a service worker makes or answers could bypass the routes,
    and no page here needs one (JupyterLab and Voila run without).
    """
    contexts = []
    blocked = OffsiteRequests()

    def make(viewport=(1300, 1000)):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                      service_workers="block")

        def guard(route):
            request = route.request
            if _is_local(request.url):
                route.continue_()
            else:
                blocked.append((request.resource_type, request.url))
                route.abort("blockedbyclient")

        def guard_web_socket(web_socket):
            if _is_local(web_socket.url):
                web_socket.connect_to_server()  # messages then pass straight through
            else:
                blocked.append(("websocket", web_socket.url))
                web_socket.close(code=1008, reason="blocked by the browser tests: not 127.0.0.1")

        context.route("**/*", guard)
        context.route_web_socket(lambda url: True, guard_web_socket)
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


# ---- response times: tests/artifacts/response_times.json and pytest's terminal summary ----

_TIMINGS = pytest.StashKey[list]()
_WORKER_OUTPUT = "cs231n_norm_response_times"


def _timings(config) -> list:
    return config.stash.setdefault(_TIMINGS, [])


@pytest.fixture(scope="session")
def record_timing(pytestconfig, artifacts):
    """``record_timing(dashboard, knob, ms)``: written to tests/artifacts/response_times.json
    at the end of the session and listed in pytest's terminal summary."""
    timings = _timings(pytestconfig)

    def record(dashboard, knob, ms):
        timings.append({"dashboard": dashboard, "knob": knob, "response_ms": round(ms)})

    yield record
    if timings:
        (artifacts / "response_times.json").write_text(json.dumps(timings, indent=1) + "\n")


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # a pytest-xdist worker: tell the controller
        session.config.workeroutput[_WORKER_OUTPUT] = _timings(session.config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist's controller (when it loaded this file): collect a worker's times."""
    _timings(node.config).extend(getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT, []))


def pytest_terminal_summary(terminalreporter, config):
    timings = _timings(config)
    if not timings:
        return
    terminalreporter.section("browser response times (action -> new picture in the page)")
    for entry in timings:
        terminalreporter.write_line(
            f"{entry['dashboard']:<30} {entry['knob']:<42} {entry['response_ms']:>6} ms")
    values = sorted(entry["response_ms"] for entry in timings)
    terminalreporter.write_line(
        f"{len(values)} actions: min {values[0]} ms, median {values[len(values) // 2]} ms, "
        f"max {values[-1]} ms (also in tests/artifacts/response_times.json)")
