"""The reveal.js decks (tools/build_slides.py) load nothing from the network, initialise
offline, and no slide cuts anything off.

Without a browser: every teaching notebook builds into a deck whose scripts and
stylesheets are all local, and ``remote_references`` finds what a page would fetch.
In the browser (every address but 127.0.0.1 blocked): a deck initialises reveal.js
and MathJax and moves to the next slide; and every slide of every deck, walked with
reveal.js's API, fits its logical 1280 x 860 pixels: no code or output block is
wider than its box or sticks out of the slide, and no slide is taller than 860.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import threading

import nbformat
import pytest

from browser_helpers import ROOT, in_ci


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
        if in_ci():
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


# MathJax 2 is idle when its queue is empty (pending and running 0) and no typeset or
# re-render is under way. The second part matters: on every slide change the deck calls
# MathJax.Hub.Rerender(slide) directly (nbconvert's reveal template), which removes the
# slide's formulas and typesets them again on a queue of its own, not MathJax.Hub.queue;
# waiting for an empty Hub queue alone took screenshots with every formula missing.
MATHJAX_QUEUE_EMPTY = """() => window.MathJax !== undefined && MathJax.isReady === true
    && MathJax.Hub.queue.pending === 0 && MathJax.Hub.queue.running === 0
    && MathJax.Hub.queue.queue.length === 0"""
# Install once the first typeset is done, before moving to another slide: counts MathJax's
# "Begin ..."/"End ..." messages, and defines __mathjaxIdleAfter(n): the queue is empty and
# nothing is under way, after at least n typesets / re-renders have ended in all.
TRACK_MATHJAX = """() => {
    const counts = {begun: 0, ended: 0};
    for (const action of ['Typeset', 'Rerender', 'Reprocess', 'Update']) {
        MathJax.Hub.Register.MessageHook('Begin ' + action, () => { counts.begun += 1; });
        MathJax.Hub.Register.MessageHook('End ' + action, () => { counts.ended += 1; });
    }
    const queue = MathJax.Hub.queue;
    window.__mathjaxIdleAfter = ended => queue.pending === 0 && queue.running === 0
        && queue.queue.length === 0 && counts.ended >= ended && counts.begun === counts.ended;
    return counts.ended;
}"""
MATHJAX_IDLE_AFTER = "(ended) => window.__mathjaxIdleAfter(ended)"


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
    # MathJax (the local copy) has typeset the LaTeX: its queue is empty, and it made formulas
    page.wait_for_function(MATHJAX_QUEUE_EMPTY, timeout=60_000)
    assert page.locator(".MathJax_CHTML").count() > 0
    ended = page.evaluate(TRACK_MATHJAX)
    for number in (1, 2):
        page.keyboard.press("ArrowRight")
        page.wait_for_function("(n) => location.hash === '#/' + n", arg=number, timeout=10_000)
    assert page.locator(".reveal .slides > section").nth(2).get_attribute("class").split().count("present") == 1
    # each slide change re-renders the new slide's formulas: wait until both have finished
    page.wait_for_function(MATHJAX_IDLE_AFTER, arg=ended + 2, timeout=60_000)
    assert page.locator(".reveal .slides > section.present .MathJax_CHTML").count() > 0
    assert not errors, errors
    page.screenshot(path=str(artifacts / f"slides_{DECK}.png"))


def test_deck_opens_from_disk(slide_server, built_decks, new_page):
    """The README says a deck can be opened straight from disk (file://), with no server."""
    root, _ = built_decks  # slide_server has linked the assets in next to the decks
    page = new_page(viewport=(1280, 800))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto((root / "build" / f"{DECK}.slides.html").as_uri())
    page.locator(".reveal.ready").wait_for(timeout=60_000)
    page.wait_for_function(MATHJAX_QUEUE_EMPTY, timeout=60_000)
    assert page.locator(".MathJax_CHTML").count() > 0
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => location.hash === '#/1'", timeout=10_000)
    assert not errors, errors


# Walks every slide with reveal.js's API and measures it, in the deck's logical pixels
# (reveal.js scales the 1280 x 860 slide with a CSS transform, which layout sizes ignore).
WALK_SLIDES = """async ([revealUrl, ended]) => {
    const Reveal = await new Promise(resolve => require([revealUrl], resolve));
    const mathjaxIdle = async minimum => {
        const deadline = performance.now() + 60000;
        while (!window.__mathjaxIdleAfter(minimum)) {
            if (performance.now() > deadline) throw new Error('MathJax still busy after 60 s');
            await new Promise(resolve => setTimeout(resolve, 20));
        }
    };
    await Promise.all([...document.images].map(image => image.decode().catch(() => null)));
    // MathJax pauses processSectionDelay (50 ms) four times per re-render, to let the page
    // breathe; layout does not depend on it, and 0 makes the walk about three times faster
    MathJax.Hub.processSectionDelay = 0;
    const {width, height} = Reveal.getConfig();
    const describe = element => {
        const text = (element.innerText || element.getAttribute('alt') || '').trim().replace(/\\s+/g, ' ');
        const name = element.tagName.toLowerCase() + [...element.classList].slice(0, 2).map(c => '.' + c).join('');
        return `${name} "${text.slice(0, 60)}"`;
    };
    const problems = [];
    const slides = Reveal.getSlides();
    for (const [index, slide] of slides.entries()) {
        const {h, v} = Reveal.getIndices(slide);
        if (Reveal.getCurrentSlide() !== slide) {
            Reveal.slide(h, v);
            ended += 1;  // a slide change re-renders the new slide's formulas
        }
        await mathjaxIdle(ended);
        const where = `slide ${index + 1} of ${slides.length} (#/${h}/${v})`;
        if (slide.scrollWidth > slide.clientWidth)
            problems.push(`${where}: ${slide.scrollWidth} px wide (slide ${slide.clientWidth}): ${describe(slide)}`);
        if (slide.scrollHeight > height)
            problems.push(`${where}: ${slide.scrollHeight} px tall (slide ${height}): ${describe(slide)}`);
        const box = slide.getBoundingClientRect();
        const blocks = slide.querySelectorAll(
            'pre, img, table, svg, .jp-InputArea-editor, .jp-OutputArea-output, .MJXc-display');
        for (const element of blocks) {
            if (element.getClientRects().length === 0) continue;  // not rendered (e.g. in a closed <details>)
            const rect = element.getBoundingClientRect();
            if (element.scrollWidth > element.clientWidth)
                problems.push(`${where}: ${describe(element)} needs ${element.scrollWidth} px, has ${element.clientWidth}`);
            else if (rect.right > box.right + 0.5 || rect.left < box.left - 0.5)
                problems.push(`${where}: ${describe(element)} sticks out of the slide`);
        }
    }
    return {count: slides.length, width, problems};
}"""


def test_no_slide_is_wider_or_taller_than_the_slide(built_decks, slide_server, new_page):
    """Every slide of every deck, in one browser page: nothing clipped, nothing to scroll."""
    _, paths = built_decks
    page = new_page(viewport=(1280, 860))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    problems, walked = [], 0
    for path in paths:
        page.goto(f"{slide_server}/build/{path.name}")
        page.locator(".reveal.ready").wait_for(timeout=60_000)
        page.wait_for_function(MATHJAX_QUEUE_EMPTY, timeout=60_000)
        ended = page.evaluate(TRACK_MATHJAX)
        result = page.evaluate(WALK_SLIDES, ["../node_modules/reveal.js/dist/reveal.js", ended])
        nb = nbformat.read(slides.NOTEBOOK_DIR / path.name.replace(".slides.html", ".ipynb"), as_version=4)
        expected = sum(cell.metadata["slideshow"]["slide_type"] in ("slide", "subslide") for cell in nb.cells)
        assert result["count"] == expected, f"{path.name}: walked {result['count']} slides, the notebook makes {expected}"
        assert result["width"] == 1280, result["width"]
        walked += result["count"]
        problems += [f"{path.name.split('.')[0]} {problem}" for problem in result["problems"]]
    assert not errors, errors
    assert not problems, f"{len(problems)} slide(s) clip or overflow ({walked} slides walked):\n" + "\n".join(problems)
