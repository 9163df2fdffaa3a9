"""The server fixture's promise, checked without a browser: stopping a server also ends the
processes it started, even one in a session of its own that ignores SIGTERM (as a kernel
runs in a session of its own, out of reach of a signal to the server's process group)."""
import sys
import time

import psutil

from conftest import Server, free_port

STUBBORN_CHILD = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
SERVER = (
    "import subprocess, sys, time\n"
    f"subprocess.Popen([sys.executable, '-c', {STUBBORN_CHILD!r}], start_new_session=True)\n"
    "time.sleep(120)\n"
)


def test_stop_ends_a_child_that_ignores_sigterm_in_its_own_session(tmp_path):
    server = Server([sys.executable, "-c", SERVER], free_port(), tmp_path / "server.log")
    deadline = time.monotonic() + 10
    while not server.descendants() and time.monotonic() < deadline:
        time.sleep(0.05)
    (child,) = server.descendants()
    assert child.status() != psutil.STATUS_ZOMBIE
    server.stop(own_end_wait=1, term_wait=1)  # raises if anything is left
    assert server.started_processes == [child]
    assert server.terminated == [child], "it outlived its server and had to be terminated"
    assert not server.left_over
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert "terminated by the fixture" in (tmp_path / "server.log").read_text()
