"""Serve the classroom dashboards (dashboards/*.ipynb) code-free with Voila, on 127.0.0.1.

Usage (from the repository root)::

    python tools/serve_dashboards.py              # http://127.0.0.1:8866/
    python tools/serve_dashboards.py --port 9000

Open the printed address; each dashboard is one explorer (its code is hidden).
Stop the server with Ctrl+C: Voila then shuts down the dashboards' kernels.

The server listens on 127.0.0.1 only (nobody else on the network can run code in
your kernels). Pages load nothing from the internet: the dashboards use the
``classroom`` Voila template in dashboards/.voila_template/, Voila's ``lab``
template without its two font-awesome stylesheets from a CDN.

The browser tests (tests/browser/) start the server with the same command,
:func:`voila_command` and :func:`voila_environment`.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "dashboards"
TEMPLATE_ROOT = DASHBOARDS / ".voila_template"  # holds voila/templates/classroom/
DEFAULT_PORT = 8866
DASHBOARD_URL = "/voila/render/{name}"  # name: the notebook's file name, e.g. 01_coupling.ipynb


def dashboard_names() -> list[str]:
    """File names of the dashboards, in order (e.g. ``['01_coupling.ipynb', ...]``)."""
    return sorted(path.name for path in DASHBOARDS.glob("[0-9][0-9]_*.ipynb"))


def voila_command(port: int = DEFAULT_PORT) -> list[str]:
    """The Voila command line that serves dashboards/ on 127.0.0.1:`port`.

    Parameters
    ----------
    port : int, 1..65535

    Returns
    -------
    list of str, for subprocess (run it with :func:`voila_environment`)
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, got {type(port).__name__} {port!r}")
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be in 1..65535, got {port}")
    return [
        sys.executable, "-m", "voila", str(DASHBOARDS),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",  # a busy port is an error, not a silent move to another one
        "--template=classroom",
        "--show_tracebacks=True",  # an explorer that fails says why, on the page
    ]


def voila_environment(base: dict | None = None) -> dict:
    """The environment for :func:`voila_command`: JUPYTER_PATH finds the ``classroom`` template."""
    env = dict(os.environ if base is None else base)
    paths = [str(TEMPLATE_ROOT)] + ([env["JUPYTER_PATH"]] if env.get("JUPYTER_PATH") else [])
    env["JUPYTER_PATH"] = os.pathsep.join(paths)
    return env


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    args = parser.parse_args(argv)
    command = voila_command(args.port)
    print(f"Dashboards at http://127.0.0.1:{args.port}/ (Ctrl+C stops the server):", flush=True)
    for name in dashboard_names():
        print(f"  http://127.0.0.1:{args.port}{DASHBOARD_URL.format(name=name)}", flush=True)
    try:
        return subprocess.call(command, env=voila_environment(), cwd=ROOT)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
