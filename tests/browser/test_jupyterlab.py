"""Notebook 02 in JupyterLab with its default settings: Run All, then drive the step-through explorer.

JupyterLab 4.6 sends widget messages to a kernel subshell by default
(``commsOverSubshells``), so the explorer's callbacks run on another thread than
the main shell; pyplot-based drawing was measured to come out blank or half drawn
there. The test checks that this setting is at its default, clicks through the
explorer, and compares every picture the browser shows, byte for byte, with the
package's own rendering of that step.

The only settings changed (in temporary folders, for this test alone) are
cosmetic: no news / update toast, no autosave, and every cell rendered even when
off screen. The notebook is a copy in a temporary folder: nothing in the checkout
is written.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request

import pytest

from browser_helpers import ROOT, act_and_wait_for_plot, displayed_png, wait_until_settled

NOTEBOOK = "02_staged_backward.ipynb"
TEST_ONLY_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
KERNEL_SETTINGS = "@jupyterlab/apputils-extension:kernels-settings"


@pytest.fixture(scope="module")
def jupyterlab(start_server, tmp_path_factory):
    home = tmp_path_factory.mktemp("jupyterlab")
    work = home / "work"
    work.mkdir()
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, work / NOTEBOOK)
    settings = home / "settings"
    for name, values in TEST_ONLY_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    })

    def command(port):
        return [
            sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port_retries=0", "--allow-root", "--IdentityProvider.token=", "--ServerApp.password=",
            f"--ServerApp.root_dir={work}",
        ]

    server = start_server(command, "/api", "jupyterlab", env=env)
    server.work = work
    yield server
    server.stop()


def test_staged_explorer_in_jupyterlab_with_default_settings(jupyterlab, new_page, artifacts, record_timing):
    from cs231n_norm.graph import explore_backward, normalization_graph
    from cs231n_norm.widgets.coupling import figure_png
    from cs231n_norm.widgets.staged import draw_step, example_inputs, step_view

    with urllib.request.urlopen(jupyterlab.url(f"/lab/api/settings/{KERNEL_SETTINGS}"), timeout=30) as response:
        kernel_settings = json.load(response)
    # the server folds any admin overrides into the schema's defaults; user settings come on top
    assert kernel_settings["schema"]["properties"]["commsOverSubshells"]["default"] == "perCommTarget"
    assert "commsOverSubshells" not in kernel_settings["settings"], kernel_settings["settings"]

    page = new_page(viewport=(1400, 1000), service_workers="allow")
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text[:300]}"))
    page.goto(jupyterlab.url(f"/lab/tree/{NOTEBOOK}"), wait_until="commit")
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120_000)

    prompts_all = """(pattern) => {
        const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
        return prompts.length > 0 && prompts.every(p => new RegExp(pattern).test(p.textContent));
    }"""

    def menu(name, item):
        page.locator(".lm-MenuBar-item", has_text=name).first.click()
        page.locator(".lm-Menu-item", has_text=item).first.click()

    # the stored notebook already shows [1]..[11]: clear first, so "all numbered" means "all ran now"
    menu("Edit", "Clear Outputs of All Cells")
    page.wait_for_function(prompts_all, arg=r"^\[ \]:?$", timeout=30_000)
    menu("Run", "Run All Cells")
    try:
        page.wait_for_function(prompts_all, arg=r"^\[\d+\]:?$", timeout=int(os.environ.get('JLAB_RUN_ALL_TIMEOUT', '180')) * 1000)
    except Exception:
        page.screenshot(path=str(artifacts / "jupyterlab_run_all_failed.png"))
        prompts = page.evaluate("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent)")
        pytest.fail(f"Run All did not finish; prompts {prompts}; console:\n" + "\n".join(console[-30:]))
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.first.inner_text()

    explorer = page.locator(".widget-vbox").filter(has=page.get_by_role("button", name="next ▶")).last
    explorer.scroll_into_view_if_needed()
    image = explorer.locator("img.widget-image")
    image.wait_for(state="visible", timeout=60_000)
    wait_until_settled(image)
    step = explorer.locator(".widget-slider .widget-readout")

    inputs = example_inputs(N=4, D=3, seed=0)  # what notebook 02 passes to build_staged_explorer (eps 1e-5)
    graph = normalization_graph(inputs["x"], inputs["gamma"], inputs["beta"], 1e-5, 0)
    steps = explore_backward(graph, inputs["dout"])

    def expected_png(number):
        return figure_png(draw_step(graph, step_view(graph, steps, number - 1)), dpi=80)

    first = int(step.inner_text())
    assert displayed_png(image) == expected_png(first), "the first picture is not the package's rendering"
    number = first
    for clicks in range(len(steps) - first):
        ms = act_and_wait_for_plot(page, image, lambda: explorer.get_by_role("button", name="next ▶").click())
        number += 1
        record_timing("JupyterLab 02 staged explorer", f"next button (step {number})", ms)
        assert int(step.inner_text()) == number
        assert displayed_png(image) == expected_png(number), f"step {number}: picture differs from the package's"
    ms = act_and_wait_for_plot(page, image, lambda: explorer.get_by_role("button", name="◀ previous").click())
    record_timing("JupyterLab 02 staged explorer", f"previous button (step {number - 1})", ms)
    assert displayed_png(image) == expected_png(number - 1)
    page.screenshot(path=str(artifacts / "jupyterlab_02_staged_explorer.png"))
