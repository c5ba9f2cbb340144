"""The talk: RISE metadata on the notebook, and index.html presenting offline in headless Chromium.

Each deck test runs twice: on a small stand-in notebook (does the tooling work, and does the measurement
find the faults it should?) and on the committed notebook and index.html (is the deck there, complete,
up to date and presentable at 1280x720, issue 13?). Chromium is driven by Playwright (talk/browser.py)
with every network request aborted. Screenshots of each committed slide go to test-artefacts/slides/.
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
from stand_in_notebook import EXPECTED_SLIDES, TOO_TALL_SLIDES, UNTITLED_SLIDES, make_stand_in_notebook

from talk import measure, slides
from talk.browser import OfflinePage

REPO = Path(__file__).resolve().parent.parent
ARTEFACTS = REPO / "test-artefacts"


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


def test_test_knobs_on_slides_are_found():
    nb = nbformat.v4.new_notebook()
    for kind, tags, source in [("-", [], "n = 300 if FAST else 2_000"), ("skip", [], "assert n > 0"),
                               ("-", ["hide-input"], "assert n"), ("fragment", [], "x = 1\n    assert x == 1"),
                               ("-", [], "FASTER = 1  # not the knob")]:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["slideshow"] = {"slide_type": kind}
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    assert [line for _, line in slides.visible_test_knobs(nb)] == ["n = 300 if FAST else 2_000", "assert x == 1"]


def test_visible_code_cells_carry_no_test_knobs(notebook):
    """Fast-mode choices and asserts live in cells the slides skip (issue 13)."""
    knobs = slides.visible_test_knobs(notebook)
    assert not knobs, "\n".join(f"{cell_id}: {line}" for cell_id, line in knobs)


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


def assert_offline_and_clean(deck: measure.DeckMeasure, expected_slides: int):
    """The deck loaded with the network cut, every slide reachable, every image loaded, no JS errors."""
    assert len(deck.slides) == expected_slides, "slides in the deck differ from the notebook's slide types"
    assert not deck.failed_requests, f"the deck tried to load something: {deck.failed_requests}"
    assert not deck.exceptions, deck.exceptions
    assert not deck.console_errors, deck.console_errors
    assert sum(row["images"] for row in deck.slides), "no figure in the deck"
    broken = [row["number"] for row in deck.slides if row["broken_images"]]
    assert not broken, f"slides with images that did not load: {broken}"


@pytest.fixture(scope="module")
def stand_in_deck(stand_in, tmp_path_factory) -> Path:
    return slides.build_index_html(stand_in, tmp_path_factory.mktemp("deck") / "index.html")


def test_stand_in_deck_renders_what_the_talk_shows(stand_in_deck):
    page = stand_in_deck.read_text(encoding="utf-8")
    assert slides.external_loads(page) == []
    assert "UserWarning" not in page  # the stderr stream with the warning is dropped
    assert "Only the plot is shown" not in page  # hide-input: that cell's code is not on the slide
    assert "Share of loans" in page  # while other cells show theirs
    assert "Speaker note" in page and '<aside class="notes">' in page
    assert "done = True" not in page  # skip cells left out
    assert "data:image/gif;base64," in page  # the GIF output is an image
    assert "IPython.core.display.Image object" not in page


def test_stand_in_deck_presents_offline_and_is_measured(stand_in_deck):
    """The measurement on a deck whose faults are known: it finds them, and only them."""
    deck = measure.measure_deck(stand_in_deck)
    assert_offline_and_clean(deck, EXPECTED_SLIDES)
    summary = measure.summarise(deck)
    assert summary["images"] == 4  # the markdown image, the bar chart, the hidden-code plot, the GIF
    assert summary["reprs"] == [] and summary["prompts"] == 0
    assert summary["too_tall"] == TOO_TALL_SLIDES
    assert summary["untitled"] == UNTITLED_SLIDES
    assert summary["code_px"] >= measure.MIN_CODE_PX and summary["body_px"] >= measure.MIN_BODY_PX
    assert summary["longest_code"] == 4  # the bar chart cell; the GIF cell's 7 lines are hidden
    assert summary["notes"] == 1 and summary["closing"]
    problems = "\n".join(measure.problems(summary))
    assert "taller than the slide" in problems and "speaker notes on 1 of 7" in problems


def _inject(index: Path, out: Path, html: str) -> Path:
    """A copy of the deck with ``html`` added to its second slide (in the cell "## 1. Data")."""
    page = index.read_text(encoding="utf-8")
    at = page.index(">", page.index('id="cell-id=cell-2"')) + 1
    out.write_text(page[:at] + html + page[at:], encoding="utf-8")
    return out


def test_the_deck_checker_notices_prompts_reprs_long_code_and_small_text(stand_in_deck, tmp_path):
    code = "\n".join(f"x{i} = {i}" for i in range(20))
    bad = _inject(stand_in_deck, tmp_path / "bad.html",
                  '<div class="jp-InputPrompt" style="display:block">In&nbsp;[3]:</div>'
                  f'<div class="jp-InputArea"><pre style="font-size:12px">{code}</pre></div>'
                  '<div class="jp-OutputArea-output"><pre>&lt;IPython.core.display.Image object&gt;</pre></div>'
                  '<div class="jp-RenderedMarkdown"><p style="font-size:14px">small print</p></div>')
    summary = measure.summarise(measure.measure_deck(bad))
    assert summary["prompts"] == 1
    assert summary["reprs"] == [2]
    assert summary["long_code"] == [2] and summary["longest_code"] == 20
    assert summary["small_code"] == [2] and summary["small_body"] == [2]


def test_the_deck_checker_notices_a_network_load(stand_in_deck, tmp_path):
    """A deck that needs the network must fail: the browser really is offline."""
    page = stand_in_deck.read_text(encoding="utf-8")
    index = tmp_path / "index.html"
    index.write_text(page.replace("</head>", '<script src="https://example.org/x.js"></script></head>', 1))
    assert slides.external_loads(index.read_text()) == ["https://example.org/x.js"]
    deck = measure.measure_deck(index)
    assert any("example.org" in failure for failure in deck.failed_requests)


def test_tex_formulas_are_refused_as_the_offline_deck_cannot_render_them(stand_in, tmp_path):
    nb = nbformat.read(stand_in, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("Demographic parity: $P(\\hat{Y}=1 \\mid A=a)$"))
    nb.cells.append(nbformat.v4.new_markdown_cell("A loan from $5K to $50K is not a formula."))
    assert slides.cells_with_tex(nb) == [len(nb.cells) - 2]
    with pytest.raises(ValueError, match="TeX"):
        slides.render_deck(nb, stand_in.parent)


@pytest.fixture(scope="module")
def committed_deck() -> measure.DeckMeasure:
    assert slides.INDEX_HTML.is_file(), "run `make slides`"
    return measure.measure_deck(slides.INDEX_HTML, screenshot_dir=ARTEFACTS / "slides")


def test_committed_index_html_presents_offline(committed_deck, notebook):
    assert_offline_and_clean(committed_deck, slides.expected_slide_count(notebook))
    shots = sorted((ARTEFACTS / "slides").glob("slide-*.png"))
    assert len(shots) == len(committed_deck.slides)
    assert all(shot.stat().st_size > 10_000 for shot in shots)  # rendered slides, not blank pages


def test_committed_index_html_is_a_presentable_talk(committed_deck):
    """Issue 13's "Done when" at 1280x720: `python -m talk.slides measure --slides` says which slide fails."""
    summary = measure.summarise(committed_deck)
    problems = measure.problems(summary)
    assert not problems, "\n" + measure.format_table(summary) + "\n" + "\n".join(problems)


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
