"""The reveal.js decks (tools/build_slides.py) load nothing from the network, and initialise offline.

Without a browser: every teaching notebook builds into a deck whose scripts and
stylesheets are all local, and ``remote_references`` finds what a page would fetch.
In the browser: a deck served from 127.0.0.1 (every other address blocked)
initialises reveal.js and MathJax and moves to the next slide.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import threading

import nbformat
import pytest

from browser_helpers import ROOT


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(f"_cs231n_norm_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


slides = _load_tool("build_slides")
DECK = "02_staged_backward"


# ---- without a browser ------------------------------------------------------------------

def test_remote_references_finds_what_a_page_would_fetch():
    page = """
    <script src="https://cdn.example.org/reveal.js"></script>
    <link rel="stylesheet" href="//fonts.example.org/font.css">
    <style>@import "https://x.example.org/a.css"; .a { background: url(https://y.example.org/b.png) }</style>
    <script type="module">import mermaid from 'https://z.example.org/m.mjs';</script>
    <script src="../node_modules/requirejs/require.js"></script>
    <a href="https://github.com/hakimel/reveal.js">a link is not fetched</a>
    <!-- https://in.a.comment/ is not fetched either -->
    """
    assert slides.remote_references(page) == [
        "https://cdn.example.org/reveal.js", "//fonts.example.org/font.css", "https://x.example.org/a.css",
        "https://y.example.org/b.png", "https://z.example.org/m.mjs",
    ]
    assert slides.remote_references('<script src="local.js"></script>') == []
    with pytest.raises(TypeError, match="html must be a str, got bytes"):
        slides.remote_references(b"<html>")


def test_notebook_selection_names_what_exists():
    assert [path.name[:2] for path in slides.notebooks(["2", "05"])] == ["02", "05"]
    with pytest.raises(ValueError, match="no notebook '99'"):
        slides.notebooks(["99"])


@pytest.fixture(scope="module")
def built_decks(tmp_path_factory):
    """Every teaching notebook built into <tmp>/build, assets expected at <tmp>/node_modules."""
    root = tmp_path_factory.mktemp("slides")
    paths = [slides.build_deck(notebook, root / "build", assets_url="../node_modules")
             for notebook in slides.notebooks()]
    return root, paths


def test_every_notebook_builds_a_deck_with_local_assets_only(built_decks):
    root, paths = built_decks
    assert [path.name for path in paths] == [f"{nb.stem}.slides.html" for nb in slides.notebooks()]
    for path in paths:
        html = path.read_text()
        assert slides.remote_references(html) == [], path.name
        for local in ('src="../node_modules/requirejs/require.js"', 'src="../node_modules/jquery/dist/jquery.min.js"',
                      'src="../node_modules/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"',
                      'href="../node_modules/reveal.js/dist/reveal.css"', '"../node_modules/reveal.js/dist/reveal.js"'):
            assert local in html, f"{path.name}: {local} missing"
        assert "mermaid" not in html.lower().split("</head>")[0], f"{path.name}: mermaid still imported"
        assert ".ipynb\"" not in html.replace('.ipynb" ', ""), f"{path.name}: a link still points at a notebook"


def test_every_deck_starts_with_a_title_slide():
    for notebook in slides.notebooks():
        nb = nbformat.read(notebook, as_version=4)
        shown = [cell for cell in nb.cells if cell.metadata.get("slideshow", {}).get("slide_type") != "skip"]
        types = [cell.metadata.get("slideshow", {}).get("slide_type") for cell in nb.cells]
        assert None not in types, f"{notebook.name}: cells without slide metadata: {types.index(None)}"
        first_slide = next(cell for cell in shown if cell.metadata["slideshow"]["slide_type"] == "slide")
        assert first_slide.cell_type == "markdown" and "# " in first_slide.source, notebook.name


# ---- in the browser -----------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def slide_server(built_decks):
    root, _ = built_decks
    if not all((slides.ASSETS / name).is_file() for name in slides.NEEDED):
        message = (f"the slides' assets are not installed in {slides.ASSETS}: run `python tools/build_slides.py` "
                   "once (npm ci from slides/package-lock.json)")
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    (root / "node_modules").symlink_to(slides.ASSETS, target_is_directory=True)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_deck_initialises_offline(slide_server, new_page, artifacts):
    nb = nbformat.read(ROOT / "notebooks" / f"{DECK}.ipynb", as_version=4)
    horizontal = sum(cell.metadata["slideshow"]["slide_type"] == "slide" for cell in nb.cells)

    page = new_page(viewport=(1280, 800))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{slide_server}/build/{DECK}.slides.html")
    # reveal.js is loaded through require.js (no global Reveal): it marks the deck "ready"
    page.locator(".reveal.ready").wait_for(timeout=60_000)
    assert page.locator(".reveal .slides > section").count() == horizontal
    title = page.locator(".reveal .slides > section.present").first.inner_text().lower()
    assert "batch normalization: the staged backward pass" in title, title
    # MathJax (the local copy) typesets the LaTeX
    page.wait_for_function("() => document.querySelectorAll('.MathJax_CHTML').length > 0", timeout=60_000)
    for number in (1, 2):
        page.keyboard.press("ArrowRight")
        page.wait_for_function("(n) => location.hash === '#/' + n", arg=number, timeout=10_000)
    assert page.locator(".reveal .slides > section").nth(2).get_attribute("class").split().count("present") == 1
    assert not errors, errors
    page.screenshot(path=str(artifacts / f"slides_{DECK}.png"))
