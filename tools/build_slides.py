"""Build every teaching notebook as reveal.js slides that need no network to present.

Usage (from the repository root)::

    python tools/build_slides.py                # all notebooks -> slides/build/NN_name.slides.html
    python tools/build_slides.py 02 05          # a subset, by number
    python tools/build_slides.py --serve        # build, then serve slides/ on http://127.0.0.1:8000/
    python tools/build_slides.py --serve --port 9000

Open a deck in a browser (``slides/build/02_staged_backward.slides.html`` straight
from disk works too). Keys: arrows move, ``Esc`` shows the overview, ``s`` opens the
speaker view, ``f`` full screen. The slides are static: the stored outputs are shown
and widgets are pictures. For live widgets, present from JupyterLab (see README).

nbconvert's slides load reveal.js, require.js, jQuery and MathJax from CDNs and
import mermaid from one on every page; here every one of them is a local file:

- reveal.js, require.js, jQuery and MathJax 2 come from ``slides/node_modules``,
  installed from the committed ``slides/package-lock.json`` with ``npm ci`` the
  first time (the npm registry is needed then, and only then);
- the ``cs231n_reveal`` template (``slides/template/``) drops the mermaid import;
- links between notebooks (``02_staged_backward.ipynb``) point at the decks.

:func:`remote_references` lists whatever a built deck would still load from
elsewhere; the build fails if anything is left.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
SLIDES = ROOT / "slides"
ASSETS = SLIDES / "node_modules"
BUILD = SLIDES / "build"
TEMPLATE_DIR = SLIDES / "template"
TEMPLATE = "cs231n_reveal"
DEFAULT_PORT = 8000
THEME = "white"  # its fonts are local files; "simple" and others import Google Fonts
# the files the decks load, relative to ASSETS (all from slides/package.json)
ASSET_FILES = {
    "reveal": "reveal.js",  # a folder: dist/reveal.js, dist/reveal.css, dist/theme/, plugin/notes/
    "require_js": "requirejs/require.js",
    "jquery": "jquery/dist/jquery.min.js",
    "mathjax": "mathjax/MathJax.js",
}
NEEDED = ["reveal.js/dist/reveal.js", "reveal.js/dist/reveal.css", "reveal.js/plugin/notes/notes.js",
          "requirejs/require.js", "jquery/dist/jquery.min.js", "mathjax/MathJax.js"]

# what a page fetches: src= / href= attributes, CSS url(...) and @import, JS import ... from
_REFERENCE = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']|url\(\s*["']?|@import\s+["']|\bimport\s*\(?\s*["']|\bfrom\s+["'])"""
    r"""((?:https?:)?//[^"')\s]+)""",
    re.IGNORECASE,
)


def remote_references(html: str) -> list[str]:
    """Addresses a page would fetch from a host of its own choosing (``http(s)://`` or ``//``).

    Plain links (``<a href="https://...">``) are excluded: nothing is fetched until
    someone clicks them.

    Parameters
    ----------
    html : str, a built deck

    Returns
    -------
    list of str, in order of appearance (empty when the deck is self-contained)
    """
    if not isinstance(html, str):
        raise TypeError(f"html must be a str, got {type(html).__name__}")
    found = []
    for match in _REFERENCE.finditer(html):
        before = html[max(0, match.start() - 200):match.start()]
        if re.search(r"<a\s[^>]*$", before, re.IGNORECASE):
            continue
        found.append(match.group(1))
    return found


def notebooks(selection=()) -> list[Path]:
    """The teaching notebooks, all or those whose number (``"02"``) or path is in `selection`."""
    every = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not selection:
        return every
    chosen = []
    for item in selection:
        matches = [path for path in every if path.name[:2] == str(item).zfill(2) or str(path) == str(item)
                   or path.name == Path(str(item)).name]
        if not matches:
            raise ValueError(f"notebooks: no notebook {item!r}; have {[path.name for path in every]}")
        chosen.extend(matches)
    return chosen


def install_assets(force: bool = False) -> Path:
    """``npm ci`` in slides/ unless every file the decks load is there; returns ASSETS."""
    if not force and all((ASSETS / name).is_file() for name in NEEDED):
        return ASSETS
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed once to install the slides' assets (apt-get install -y npm)")
    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=SLIDES, check=True)
    missing = [name for name in NEEDED if not (ASSETS / name).is_file()]
    if missing:
        raise RuntimeError(f"npm ci did not install {missing} into {ASSETS}")
    return ASSETS


def exporter(assets_url: str):
    """An nbconvert SlidesExporter whose every script and stylesheet comes from `assets_url`."""
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    config = Config()
    slides = config.SlidesExporter
    slides.reveal_url_prefix = f"{assets_url}/{ASSET_FILES['reveal']}"
    slides.require_js_url = f"{assets_url}/{ASSET_FILES['require_js']}"
    slides.jquery_url = f"{assets_url}/{ASSET_FILES['jquery']}"
    slides.mathjax_url = f"{assets_url}/{ASSET_FILES['mathjax']}?config=TeX-AMS_CHTML-full,Safe"
    slides.reveal_theme = THEME
    slides.reveal_transition = "none"  # instant, and nothing moves while the class reads
    slides.reveal_number = "c/t"
    slides.reveal_width = "1280"  # the logical slide size, scaled to the screen: room for 88-column code
    slides.reveal_height = "860"
    slides.reveal_scroll = True  # a tall output can be scrolled rather than cut off
    slides.exclude_input_prompt = True
    slides.exclude_output_prompt = True
    slides.template_name = TEMPLATE
    slides.extra_template_basedirs = [str(TEMPLATE_DIR)]
    return SlidesExporter(config=config)


def build_deck(notebook: Path, out_dir: Path = BUILD, assets_url: str | None = None) -> Path:
    """Convert one notebook to ``out_dir/NAME.slides.html``; returns the path.

    Parameters
    ----------
    notebook : path of a .ipynb
    out_dir : folder for the deck (created)
    assets_url : where the deck finds reveal.js & co.; default: slides/node_modules
        relative to `out_dir`

    Raises
    ------
    RuntimeError if the deck would still load anything from another host
    """
    import nbformat

    notebook, out_dir = Path(notebook), Path(out_dir)
    if notebook.suffix != ".ipynb" or not notebook.is_file():
        raise ValueError(f"notebook must be an existing .ipynb file, got {str(notebook)!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    if assets_url is None:
        assets_url = Path(os.path.relpath(ASSETS, out_dir)).as_posix()
    nb = nbformat.read(notebook, as_version=4)
    html, _ = exporter(assets_url).from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    # links between notebooks lead to the other decks
    html = re.sub(r'href="(\d\d_[\w-]+)\.ipynb(#[^"]*)?"', r'href="\1.slides.html\2"', html)
    remote = remote_references(html)
    # the stylesheets the deck links import further files: those must be local too
    for css in (ASSETS / "reveal.js" / "dist" / "reveal.css", ASSETS / "reveal.js" / "dist" / "theme" / f"{THEME}.css"):
        if css.is_file():
            remote += remote_references(css.read_text(encoding="utf-8"))
    if remote:
        raise RuntimeError(f"{notebook.name}: the deck would load from other hosts: {remote}")
    path = out_dir / f"{notebook.stem}.slides.html"
    path.write_text(html, encoding="utf-8")
    return path


def serve(port: int = DEFAULT_PORT):
    """Serve slides/ on 127.0.0.1:`port` until Ctrl+C."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SLIDES))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"Slides at http://127.0.0.1:{port}/build/ (Ctrl+C stops the server)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook numbers (e.g. 02 05) or paths; default: all")
    parser.add_argument("--serve", action="store_true", help="serve slides/ on 127.0.0.1 after building")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port for --serve (default {DEFAULT_PORT})")
    args = parser.parse_args(argv)
    try:
        chosen = notebooks(args.notebooks)
    except ValueError as error:
        parser.error(str(error))
    install_assets()
    for notebook in chosen:
        path = build_deck(notebook)
        print(f"{path.relative_to(ROOT)}", flush=True)
    if args.serve:
        serve(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
