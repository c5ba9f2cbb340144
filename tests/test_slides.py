"""The talk: RISE metadata on the notebook, and index.html presenting offline in headless Chromium.

Each deck test runs twice: on a small stand-in notebook (does the tooling work?) and on the committed
notebook and index.html (is the deck there, complete and up to date?). Screenshots of the committed
deck go to test-artefacts/ for a person to look at.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from stand_in_notebook import EXPECTED_SLIDES, make_stand_in_notebook

from talk import slides
from tests.headless_chromium import OfflinePage

REPO = Path(__file__).resolve().parent.parent
ARTEFACTS = REPO / "test-artefacts"
MAX_STEPS = 2000  # Reveal.next() calls before giving up: far more than slides and fragments


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Path:
    return make_stand_in_notebook(tmp_path_factory.mktemp("stand-in"))


@pytest.fixture(scope="module")
def notebook():
    return nbformat.read(slides.NOTEBOOK, as_version=4)


def test_rise_metadata_is_set_once_and_keeps_other_keys(stand_in):
    nb = nbformat.read(stand_in, as_version=4)
    nb.metadata["rise"] = {"header": "<b>kept</b>", "theme": "sky"}
    assert slides.apply_rise_metadata(nb) is True
    assert nb.metadata.rise["header"] == "<b>kept</b>"
    assert {k: nb.metadata.rise[k] for k in slides.RISE_SETTINGS} == slides.RISE_SETTINGS
    assert slides.apply_rise_metadata(nb) is False  # idempotent


def test_every_cell_of_the_notebook_has_a_slide_type(notebook):
    missing = slides.cells_without_slide_type(notebook)
    assert not missing, f"cells without a slide type: {missing} (python -m talk.slides check)"


def test_the_notebook_has_the_rise_metadata(notebook):
    rise = notebook.metadata.get("rise", {})
    assert {k: rise.get(k) for k in slides.RISE_SETTINGS} == slides.RISE_SETTINGS, "run `make rise`"


def test_expected_slide_count_follows_rise_rules():
    nb = nbformat.v4.new_notebook()
    for kind in ["skip", "notes", "-", "fragment", "subslide", "skip", "slide", "-", "subslide", "notes"]:
        cell = nbformat.v4.new_markdown_cell("x")
        cell.metadata["slideshow"] = {"slide_type": kind}
        nb.cells.append(cell)
    # The first shown cell ("-") opens slide 1; then a subslide, a slide and a subslide.
    assert slides.expected_slide_count(nb) == 4


def present_offline(index: Path, expected_slides: int, screenshots: dict[str, Path] | None = None) -> dict:
    """Load the deck with no network, check it and walk through it; returns what was seen."""
    with OfflinePage(width=slides.DECK_WIDTH, height=slides.DECK_HEIGHT) as page:
        page.open(index)
        page.wait_for("typeof Reveal !== 'undefined' && Reveal.isReady()")
        total = page.evaluate("Reveal.getTotalSlides()")
        page.wait_for("Array.from(document.images).every(img => img.complete)")
        images = page.evaluate(
            "Array.from(document.images).map(img => ({src: img.src.slice(0, 40), complete: img.complete,"
            " width: img.naturalWidth}))"
        )
        if screenshots:
            page.pause(0.5)
            page.screenshot(screenshots["title"])
        steps, too_tall = 0, set()
        while not page.evaluate("Reveal.isLastSlide() && !Reveal.availableFragments().next"):
            # A slide taller than the deck must scroll (RISE's "scroll"), not spill over its bottom.
            unscrollable = page.evaluate(
                "(() => { Reveal.next(); const s = Reveal.getCurrentSlide();"
                " const tall = s.scrollHeight > Reveal.getConfig().height;"
                " const scrolls = getComputedStyle(s).overflowY === 'auto';"
                " return tall && !scrolls ? Reveal.getSlidePastCount() : -1; })()"
            )
            if unscrollable >= 0:
                too_tall.add(unscrollable)
            steps += 1
            assert steps < MAX_STEPS, "Reveal.next() never reached the end"
        scrollable = page.evaluate("document.querySelectorAll('section.scrollable-slide').length")
        visited_end = page.evaluate("Reveal.getSlidePastCount() + 1")
        if screenshots:
            # The first slide with a figure, all its fragments shown, scrolled to the figure.
            page.evaluate(
                "(() => { const slide = Reveal.getSlides().find(s => s.querySelector('.jp-OutputArea img'));"
                " const at = Reveal.getIndices(slide); Reveal.slide(at.h, at.v, 1000); })()"
            )
            page.pause(1.0)
            page.evaluate(
                "(() => { const slide = Reveal.getCurrentSlide();"
                " const img = slide.querySelector('.jp-OutputArea img');"
                " const offset = img.getBoundingClientRect().top - slide.getBoundingClientRect().top;"
                " slide.scrollTop += offset / Reveal.getScale() - 20; })()"
            )
            page.pause(0.3)
            page.screenshot(screenshots["plot"])
        page.pause(0.2)
        return {
            "total": total, "images": images, "steps": steps, "visited_end": visited_end,
            "exceptions": page.exceptions, "console_errors": page.console_errors,
            "failed_requests": page.failed_requests, "expected": expected_slides,
            "too_tall": sorted(too_tall), "scrollable": scrollable,
        }


def assert_presented(seen: dict):
    assert seen["total"] == seen["expected"], "slides in the deck differ from the notebook's slide types"
    assert seen["visited_end"] == seen["expected"], "walking the deck did not reach its last slide"
    assert seen["images"], "no figure in the deck"
    broken = [img for img in seen["images"] if not (img["complete"] and img["width"] > 0)]
    assert not broken, f"images that did not load: {broken}"
    assert not seen["too_tall"], f"slides (from 0) too tall to fit that do not scroll: {seen['too_tall']}"
    assert not seen["failed_requests"], seen["failed_requests"]
    assert not seen["exceptions"], seen["exceptions"]
    assert not seen["console_errors"], seen["console_errors"]


def test_stand_in_deck_presents_offline(stand_in, tmp_path):
    index = slides.build_index_html(stand_in, tmp_path / "index.html")
    page = index.read_text(encoding="utf-8")
    assert slides.external_loads(page) == []
    assert "UserWarning" not in page  # the stderr stream with the warning is dropped
    assert "Only the plot is shown" not in page  # hide-input: that cell's code is not on the slide
    assert "Share of loans" in page  # while other cells show theirs
    assert "Speaker note" in page and '<aside class="notes">' in page
    assert "done = True" not in page  # skip cells left out
    seen = present_offline(index, EXPECTED_SLIDES)
    assert seen["total"] == EXPECTED_SLIDES
    assert len(seen["images"]) == 3  # the markdown image, the bar chart, the hidden-code plot
    assert seen["scrollable"] >= 1  # the long output
    assert_presented(seen)


def test_the_deck_checker_notices_a_network_load(stand_in, tmp_path):
    """A deck that needs the network must fail: the browser really is offline."""
    index = slides.build_index_html(stand_in, tmp_path / "index.html")
    page = index.read_text(encoding="utf-8")
    index.write_text(page.replace("</head>", '<script src="https://example.org/x.js"></script></head>', 1))
    assert slides.external_loads(index.read_text()) == ["https://example.org/x.js"]
    seen = present_offline(index, EXPECTED_SLIDES)
    assert any("example.org" in failure for failure in seen["failed_requests"])


def test_tex_formulas_are_refused_as_the_offline_deck_cannot_render_them(stand_in, tmp_path):
    nb = nbformat.read(stand_in, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("Demographic parity: $P(\\hat{Y}=1 \\mid A=a)$"))
    nb.cells.append(nbformat.v4.new_markdown_cell("A loan from $5K to $50K is not a formula."))
    assert slides.cells_with_tex(nb) == [len(nb.cells) - 2]
    with pytest.raises(ValueError, match="TeX"):
        slides.render_deck(nb, stand_in.parent)


def test_committed_index_html_presents_offline(notebook):
    assert slides.INDEX_HTML.is_file(), "run `make slides`"
    screenshots = {"title": ARTEFACTS / "slides-title.png", "plot": ARTEFACTS / "slides-plot.png"}
    seen = present_offline(slides.INDEX_HTML, slides.expected_slide_count(notebook), screenshots)
    assert_presented(seen)
    for shot in screenshots.values():
        assert shot.stat().st_size > 10_000  # a rendered slide, not a blank page


def test_committed_index_html_is_up_to_date(tmp_path):
    fresh = slides.build_index_html(slides.NOTEBOOK, tmp_path / "index.html")
    assert fresh.read_bytes() == slides.INDEX_HTML.read_bytes(), "index.html is stale: run `make slides`"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """What `make present` starts: JupyterLab (with jupyterlab-rise), on loopback, on a copy of the
    notebook (so that nothing the server saves can touch the committed one)."""
    root = tmp_path_factory.mktemp("present")
    shutil.copy(slides.NOTEBOOK, root / slides.NOTEBOOK.name)
    (root / "images").symlink_to(REPO / "images")
    port, token = _free_port(), "slides-test"
    server = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "jupyter"), "lab", "--allow-root", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                opener.open(f"{base}/api/status?token={token}", timeout=5).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "JupyterLab did not start"
                time.sleep(0.5)
        yield base, token, opener
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_jupyterlab_has_the_rise_extension(jupyterlab):
    base, token, opener = jupyterlab
    with opener.open(f"{base}/lab?token={token}", timeout=10) as response:
        lab_page = response.read().decode()
    assert '"name": "jupyterlab-rise"' in lab_page  # enabled in JupyterLab: Alt+R starts the slideshow


def test_rise_presents_the_notebook_with_our_settings(jupyterlab, notebook):
    """The speaker's path: jupyterlab-rise renders the notebook as slides, with the notebook's settings."""
    base, token, _ = jupyterlab
    slide_number = "document.querySelector('.reveal .slide-number')"
    with OfflinePage(allow_origin=base, timeout=90) as page:
        page.open(f"{base}/rise/{slides.NOTEBOOK.name}?token={token}")
        page.wait_for(f"{slide_number} !== null && {slide_number}.textContent.includes('/')", timeout=90)
        page.pause(1.0)
        shown = "".join(page.evaluate(f"{slide_number}.textContent").split())
        font = page.evaluate("getComputedStyle(document.querySelector('.reveal')).fontFamily")
        page.screenshot(ARTEFACTS / "rise-title.png")
        blocked = [failure for failure in page.failed_requests if failure.startswith("blocked")]
    assert shown == f"1/{slides.expected_slide_count(notebook)}"  # slideNumber "c/t", the first slide
    assert "Source Sans Pro" in font  # theme "white" (the default theme would load Google Fonts)
    assert not blocked, f"RISE tried to reach the network: {blocked}"
