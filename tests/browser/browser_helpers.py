"""Helpers for the browser tests (importable: ``from browser_helpers import ...``)."""
from __future__ import annotations

import base64
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def in_ci() -> bool:
    """True when the CI variable is set to anything but an explicit no ('', 0, false, no):
    then a missing browser or missing slide assets fail the run instead of skipping."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")

WATCH_SCRIPT = """(img) => {
    window.__plot = {changedAt: null, actionAt: null};
    new MutationObserver((mutations, observer) => {
        window.__plot.changedAt = performance.now();
        observer.disconnect();
    }).observe(img, {attributes: true, attributeFilter: ['src']});
}"""


def act_and_wait_for_plot(page, image, action, *, timeout=60.0, settle=0.8):
    """Run `action()`, wait until `image`'s src changes and then stays the same for `settle` s.

    Returns
    -------
    float : milliseconds from the action to the first change of the picture
    (measured in the page with performance.now()).
    """
    image.evaluate(WATCH_SCRIPT)
    page.evaluate("() => { window.__plot.actionAt = performance.now(); }")
    action()
    page.wait_for_function("() => window.__plot.changedAt !== null", timeout=timeout * 1000)
    response_ms = page.evaluate("() => window.__plot.changedAt - window.__plot.actionAt")
    wait_until_settled(image, settle=settle, timeout=timeout)
    return float(response_ms)


def wait_until_settled(image, *, settle=0.8, timeout=60.0):
    """Wait until `image` has a src that stays unchanged for `settle` seconds."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        src = image.get_attribute("src")
        if src != last:
            last, since = src, time.monotonic()
        elif src and time.monotonic() - since >= settle:
            return src
        time.sleep(0.1)
    raise TimeoutError(f"picture did not settle within {timeout} s")




def displayed_png(image) -> bytes:
    """The bytes behind an <img> (the widget shows a blob: URL)."""
    data = image.evaluate("""async (img) => {
        const blob = await (await fetch(img.src)).blob();
        const bytes = new Uint8Array(await blob.arrayBuffer());
        let text = '';
        for (const b of bytes) text += String.fromCharCode(b);
        return btoa(text);
    }""")
    return base64.b64decode(data)
