"""The talk: RISE metadata on the notebook, and index.html presenting offline in headless Chromium.

Each deck test runs twice: on a small stand-in notebook (does the tooling work, and does the measurement
find the faults it should?) and on the committed notebook and index.html (is the deck there, complete,
up to date and presentable at 1280x720, issues 13 and 17: a 45-minute talk of at most 45 slides and a
20-minute cut, nothing past the right edge, no soft-wrapped code, no slide of 7+ lines of prose, figures
with 14 pt text, linear navigation). Chromium is driven by Playwright (talk/browser.py) with every
network request aborted. Screenshots of each committed slide go to test-artefacts/slides/.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from stand_in_notebook import (
    APPENDIX_SLIDES,
    EXPECTED_SLIDES,
    SHORT_SLIDES,
    TALK_SLIDES,
    TOO_TALL_SLIDES,
    UNTITLED_SLIDES,
    make_stand_in_notebook,
)

from talk import measure, slides
from talk.browser import OfflinePage
from talk.slides import slide_type

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
    """The deck loaded with the network cut, every slide reachable, every image loaded, no JS errors.

    ``expected_slides``: the notebook's slides, plus the appendix's title slide when there is an appendix.
    """
    appendix_title = any(row["appendix"] for row in deck.slides)
    assert len(deck.slides) == expected_slides + appendix_title, "slides differ from the notebook's slide types"
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
    assert slides.NOTES_MARKER not in page  # the speaker knows notes are notes
    assert "done = True" not in page  # skip cells left out
    assert "data:image/png;base64,R0lGOD" in page  # the GIF output (labelled PNG) is an image
    assert "IPython.core.display.Image object" not in page


def test_stand_in_deck_presents_offline_and_is_measured(stand_in_deck):
    """The measurement on a deck whose faults are known: it finds them, and only them."""
    deck = measure.measure_deck(stand_in_deck)
    assert_offline_and_clean(deck, EXPECTED_SLIDES - 1)
    summary = measure.summarise(deck)
    assert (summary["slides"], summary["appendix"]) == (TALK_SLIDES, APPENDIX_SLIDES)
    assert summary["images"] == 4  # the markdown image, the bar chart, the hidden-code plot, the GIF
    assert summary["reprs"] == [] and summary["prompts"] == 0
    assert summary["too_tall"] == TOO_TALL_SLIDES
    assert summary["untitled"] == UNTITLED_SLIDES
    assert summary["code_px"] >= measure.MIN_CODE_PX and summary["body_px"] >= measure.MIN_BODY_PX
    assert summary["longest_code"] == 4  # the bar chart cell; the GIF cell's 7 lines are hidden
    assert summary["notes"] == 1 and summary["closing"]
    assert summary["too_wide"] == summary["long_lines_slides"] == summary["prose_heavy"] == []
    problems = "\n".join(measure.problems(summary, max_slides=5))
    assert "taller than the slide" in problems and "speaker notes on 1 of 8" in problems
    assert "6 slides in the talk (at most 5" in problems


def test_the_cuts_follow_the_tags(stand_in, stand_in_deck):
    """index.html is the talk (appendix tags out); ?talk=20 keeps only the slides tagged talk-20."""
    nb = nbformat.read(stand_in, as_version=4)
    talk, appendix = slides.talk_slides(nb)
    short, rest = slides.talk_slides(nb, "20")
    assert (len(talk), len(appendix), len(short)) == (TALK_SLIDES, APPENDIX_SLIDES - 1, SHORT_SLIDES)
    deck = measure.summarise(measure.measure_deck(stand_in_deck, query="?talk=20"))
    assert (deck["slides"], deck["appendix"]) == (len(short), len(rest) + 1)
    assert deck["closing"] and deck["last_title"] == "2. The end"
    minutes = measure.minutes(deck["notes_words"], deck["slides"])
    assert deck["minutes"] == round(minutes, 1) and minutes >= deck["slides"] * 0.5


def visit_by_keys(deck: Path, key: str) -> list[str]:
    """Titles (or the first cell id) of the slides one key press after another shows, from the first."""
    with OfflinePage() as page:
        page.open(deck)
        page.wait_for("typeof Reveal !== 'undefined' && Reveal.isReady()")
        page.evaluate("Reveal.configure({transition: 'none'})")
        seen = []
        for _ in range(40):  # the stand-in has 8 slides and 1 fragment
            here = page.evaluate("(() => { const s = Reveal.getCurrentSlide();"
                                 " const h = s.querySelector('h1, h2, h3, [id^=\"cell-id=\"]');"
                                 " return h ? (h.id || h.textContent) : ''; })()")
            if not seen or seen[-1] != here:
                seen.append(here)
            if page.evaluate("Reveal.isLastSlide() && !Reveal.availableFragments().next"):
                break
            page.page.keyboard.press(key)
        return seen


def test_space_and_the_right_arrow_go_through_every_slide_in_order(stand_in_deck):
    """Linear navigation: the right arrow goes down a section's slides before the next section."""
    with_arrow = visit_by_keys(stand_in_deck, "ArrowRight")
    assert len(with_arrow) == EXPECTED_SLIDES
    assert visit_by_keys(stand_in_deck, "Space") == with_arrow


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


@pytest.mark.parametrize("fault, key", [
    # A code line of 130 characters: wider than the slide's 18 px code box (soft-wrapped or cut).
    ('<div class="jp-InputArea"><pre>x = "' + "a" * 124 + '"</pre></div>', "long_lines_slides"),
    # A table 100 px wider than the slide's content: past the right edge of the screen.
    ('<div class="jp-OutputArea-output"><table style="width:1300px"><tr><td>wide</td></tr></table></div>',
     "too_wide"),
    # Seven paragraphs of one line each: prose for the notes.
    ('<div class="jp-RenderedMarkdown">' + "<p>A line of prose.</p>" * 7 + "</div>", "prose_heavy"),
    # A table cell narrower than its word.
    ('<div class="jp-OutputArea-output"><table><tr><td style="max-width:40px;width:40px">'
     "Married-civ-spouse</td></tr></table></div>", "broken_tables"),
    # A 400 px wide figure shown at 150 px: its text shrinks under 14 pt.
    ('<div class="jp-OutputArea-output"><img style="width:150px" src="data:image/png;base64,{png}"></div>',
     "small_figures"),
])
def test_each_layout_fault_is_found_on_its_slide(stand_in_deck, tmp_path, fault, key):
    """Each measure of issue 17 catches its fault (slide 2), and the deck without it passes."""
    png = _png_base64()
    clean = measure.summarise(measure.measure_deck(stand_in_deck))
    assert clean[key] == []
    bad = measure.summarise(measure.measure_deck(_inject(stand_in_deck, tmp_path / "bad.html",
                                                         fault.replace("{png}", png))))
    assert bad[key] == [2], (key, bad[key])


def _figure_png_base64(legend_pt: float) -> str:
    """A chart drawn in the slide style whose legend is ``legend_pt`` points, as the notebook shows it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tutorial.figures import SLIDE_STYLE, inline_png

    with plt.rc_context(SLIDE_STYLE):
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.bar(["women", "men"], [0.1, 0.3], label="approval rate")
        ax.legend(fontsize=legend_pt)
        png = inline_png(fig)
        plt.close(fig)
    return png


def test_the_measure_reads_the_text_a_figure_draws_not_the_style(stand_in_deck, tmp_path):
    """A 7 pt legend in a figure drawn in the 14 pt style, shown at its own size: found on its slide."""
    html = '<div class="jp-OutputArea-output"><img src="data:image/png;base64,{png}"></div>'
    small = measure.summarise(measure.measure_deck(_inject(stand_in_deck, tmp_path / "small.html",
                                                           html.format(png=_figure_png_base64(7)))))
    assert small["small_figures"] == [2] and small["figure_text_pt"] == round(7 * 100 / 72 * 0.75, 1)
    assert "figure text under 14 pt" in "\n".join(measure.problems(small))
    fine = measure.summarise(measure.measure_deck(_inject(stand_in_deck, tmp_path / "fine.html",
                                                          html.format(png=_figure_png_base64(14)))))
    assert fine["small_figures"] == [] and fine["figure_text_pt"] >= measure.MIN_SCREEN_TEXT_PT


def _png_base64(width: int = 400, height: int = 100) -> str:
    """A blank PNG of ``width`` x ``height`` px, base64 as a data: URI holds it."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_long_code_lines_are_broken_where_python_allows_it():
    source = ('result = compute(first_argument, second_argument, third_argument)  # a comment that is long\n'
              'print(f"rows: {len(rows):,}, approved: {share:.1%} of the applicants in this sample")\n'
              '# a comment line that goes on and on and on, well past the width of the slide\n'
              '!curl -s -X POST http://127.0.0.1:9000/api/v1.0/predictions -d "{payload}" -H "Content-Type: x"')
    wrapped = slides.wrapped_code(source, 60)
    kept = wrapped.splitlines()[-1]
    assert kept == source.splitlines()[-1]  # an IPython shell escape is not Python: left as it is
    assert all(len(line) <= 60 for line in wrapped.splitlines()[:-1]), wrapped
    compile(wrapped.replace("!curl", "#"), "cell", "exec")  # still Python
    assert slides.wrapped_text("word " * 30, 40).splitlines()[1].startswith("    ")


def test_figures_are_redrawn_to_fit_the_slide_with_their_fonts():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tutorial.figures import SLIDE_FIGURE_PX, SLIDE_STYLE, fit_to_slide

    assert min(v for k, v in SLIDE_STYLE.items() if k.endswith("size") and k != "figure.figsize") >= 14
    with plt.rc_context(SLIDE_STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(16, 6))  # as xai draws: 1600 x 600 px
        for ax in axes:
            ax.plot([0, 1], [1, 0])
            ax.set_title("a title")
        assert fit_to_slide(fig) < 0.9
        box = fig.get_tightbbox(fig.canvas.get_renderer())
        assert box.width * fig.dpi <= SLIDE_FIGURE_PX[0] and box.height * fig.dpi <= SLIDE_FIGURE_PX[1]
        assert min(t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text()) >= 14
        plt.close(fig)


def test_mark_notes_marks_each_notes_cell_once():
    nb = nbformat.v4.new_notebook()
    for kind, source in [("notes", "Point at the bars."), ("notes", f"{slides.NOTES_MARKER}\n\nDone."),
                         ("-", "A slide.")]:
        cell = nbformat.v4.new_markdown_cell(source)
        cell.metadata["slideshow"] = {"slide_type": kind}
        nb.cells.append(cell)
    assert slides.mark_notes(nb) == 1
    assert nb.cells[0].source == f"{slides.NOTES_MARKER}\n\nPoint at the bars."
    assert nb.cells[2].source == "A slide."
    assert slides.mark_notes(nb) == 0  # idempotent
    assert slides.without_notes_marker(nb).cells[0].source == "Point at the bars."


def test_every_speaker_notes_cell_of_the_notebook_is_marked(notebook):
    """GitHub shows notes inline: each says it is a note (`python -m talk.slides mark-notes`)."""
    unmarked = [cell.id for cell in notebook.cells
                if slide_type(cell) == "notes" and not cell.source.startswith(slides.NOTES_MARKER)]
    assert not unmarked, f"run `python -m talk.slides mark-notes`: {unmarked}"


def test_the_agenda_lists_the_sections(notebook):
    """The agenda slide names the deck's sections, in order, as their headings do."""
    sections = [line[3:] for cell in notebook.cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if re.match(r"## \d\. ", line)]
    agenda = next(cell for cell in notebook.cells if cell.source.startswith("### The talk:"))
    items = [line for line in agenda.source.splitlines() if re.match(r"\d\. ", line)]
    assert items == sections and len(sections) == 5


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
    talk, appendix = slides.talk_slides(notebook)
    summary = measure.summarise(committed_deck)
    assert (summary["slides"], summary["appendix"]) == (len(talk), len(appendix) + 1)
    shots = sorted((ARTEFACTS / "slides").glob("slide-*.png"))
    assert len(shots) == len(committed_deck.slides)
    assert all(shot.stat().st_size > 10_000 for shot in shots)  # rendered slides, not blank pages


def test_committed_index_html_is_a_presentable_talk(committed_deck):
    """Issues 13 and 17 at 1280x720: `python -m talk.slides measure --slides` says which slide fails."""
    summary = measure.summarise(committed_deck)
    problems = measure.problems(summary, max_slides=45, max_minutes=45)
    assert not problems, "\n" + measure.format_table(summary) + "\n" + "\n".join(problems)


def test_the_20_minute_cut_is_a_presentable_talk(notebook):
    """index.html?talk=20: at most 20 slides and 20 minutes, ending with the closing slide."""
    summary = measure.summarise(measure.measure_deck(slides.INDEX_HTML, query="?talk=20"))
    short, _ = slides.talk_slides(notebook, "20")
    assert summary["slides"] == len(short)
    problems = measure.problems(summary, max_slides=20, max_minutes=20)
    assert not problems, "\n" + measure.format_table(summary) + "\n" + "\n".join(problems)


@pytest.mark.parametrize("screen", [(1920, 1080), (1024, 768)])
def test_the_deck_fits_other_screens(screen):
    """Reveal scales the 1280x720 slide: nothing may run past an edge or wrap on other screens either."""
    summary = measure.summarise(measure.measure_deck(slides.INDEX_HTML, screen=screen))
    layout = {key: summary[key] for key in ("too_tall", "too_wide", "long_lines_slides", "broken_tables",
                                            "fragments_off_slides")}
    assert not any(layout.values()), layout


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
