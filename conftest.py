"""Session setup for the whole test suite (unit tests and nbval notebooks).

Run the tests from the repository root with ``python -m pytest`` (the README's
command; .ci/run does the same). This file makes the nbval part robust:

- ``--nbval-sanitize-with`` is given in pyproject.toml as a path relative to the
  repository root; nbval opens it relative to the current folder, so we make it
  absolute here (running pytest from a subfolder works too).
- every kernel nbval starts inherits a clean temporary IPython profile (plain,
  uncoloured tracebacks; no user startup files) and PYTHONHASHSEED=0: the same
  kernel environment tools/run_notebooks.py uses to produce the stored outputs.
- nbval's failure reports are not ANSI-coloured when output is not a terminal.
- if the kernels would import cs231n_norm from somewhere other than this
  checkout (not installed, or a stale non-editable install), every notebook
  fails with a message that says so, instead of testing old code.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


def _load_run_notebooks():
    spec = importlib.util.spec_from_file_location(
        "_cs231n_norm_run_notebooks", ROOT / "tools" / "run_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_notebooks = _load_run_notebooks()

_kernel_env = contextlib.ExitStack()
_package_problem: list[str | None] = []  # computed once per process, lazily


def pytest_configure(config):
    # nbval colours its failure reports unless --color=no, even when the output
    # is not a terminal (CI logs): make "auto" mean what it means for pytest.
    if (
        getattr(config.option, "color", None) == "auto"
        and not sys.stdout.isatty()
        and not os.environ.get("FORCE_COLOR")
        and not os.environ.get("PY_COLORS")
    ):
        config.option.color = "no"
    sanitize = getattr(config.option, "nbval_sanitize_with", None)
    if sanitize and not Path(sanitize).is_absolute() and not Path(sanitize).exists():
        candidate = ROOT / sanitize
        if candidate.exists():
            config.option.nbval_sanitize_with = str(candidate)
    _kernel_env.enter_context(run_notebooks.kernel_environment())


def pytest_unconfigure(config):
    _kernel_env.close()


def _is_notebook_cell(item) -> bool:
    return type(item).__module__.startswith("nbval")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if not _is_notebook_cell(item):
        return
    if not _package_problem:
        _package_problem.append(run_notebooks.package_location_problem())
    if _package_problem[0]:
        pytest.fail(_package_problem[0], pytrace=False)
