"""The README's summary: regenerated from the executed notebook, never stale, every image link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from stand_in_notebook import make_stand_in_notebook

from talk import summary

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)")
HTML_IMAGE = re.compile(r"<img[^>]*\bsrc=[\"']([^\"']+)")


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    return nbformat.read(make_stand_in_notebook(tmp_path_factory.mktemp("stand-in")), as_version=4)


def test_stand_in_summary_keeps_the_reader_cells_and_drops_the_slide_only_ones(stand_in):
    section, figures = summary.render_summary(stand_in)
    assert "Stand-in talk" not in section  # title card tagged slide-only
    assert "Speaker note" not in section and "🗣" not in section  # notes cell
    assert "import pandas as pd" not in section  # the setup before the story is left out
    assert section.lstrip().startswith("<!--") and "### 1. Data" in section.split("```")[0]  # opens with the story
    assert "done = True" not in section  # skip code cells (setup, asserts, stopping) are left out
    assert "for i in range(60)" not in section and "line 59 of a long output" in section  # appendix: output only
    assert "### 1. Data" in section  # "## 1. Data" shifted below the README's own headings
    assert "loan: 24%" in section  # a stream output
    assert "UserWarning" not in section  # stderr dropped
    assert "<style" not in section and "<table" in section  # DataFrame HTML without its <style>
    assert "Only the plot is shown" not in section  # hide-input
    kinds = sorted(data[:4] for data in figures.values())
    assert kinds == [b"GIF8", b"\x89PNG", b"\x89PNG"]  # the GIF is a file GitHub shows, not a repr
    assert "IPython.core.display.Image object" not in section
    for path, data in figures.items():
        assert re.fullmatch(r"images/summary/figure-[0-9a-f]{12}\.(png|gif)", path)
        assert path.endswith(".gif") == data.startswith(b"GIF8")
        assert f"]({path})" in section


def test_stand_in_summary_is_deterministic(stand_in):
    assert summary.render_summary(stand_in) == summary.render_summary(stand_in)


def test_write_summary_replaces_only_the_section_and_prunes_old_figures(stand_in, tmp_path):
    notebook = tmp_path / "nb.ipynb"
    nbformat.write(stand_in, notebook)
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nBefore.\n\n{summary.START}\nold text\n{summary.END}\n\nAfter.\n")
    stale = tmp_path / summary.FIGURES_DIR / "figure-000000000000.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")

    written = summary.write_summary(notebook, readme, tmp_path)

    text = readme.read_text()
    assert text.startswith("# Title\n\nBefore.\n\n") and text.endswith(f"{summary.END}\n\nAfter.\n")
    assert "old text" not in text and "### 1. Data" in text
    assert not stale.exists()
    kept = sorted(p.name for p in (tmp_path / summary.FIGURES_DIR).iterdir())
    assert kept == sorted(p.name for p in written)
    assert summary.stale_parts(notebook, readme, tmp_path) == []
    readme.write_text(text.replace("loan: 24%", "loan: 25%"))
    assert summary.stale_parts(notebook, readme, tmp_path)  # a hand edit is caught


def test_readme_summary_is_up_to_date(tmp_path):
    """Regenerate into a temporary README and compare: the summary must never go stale."""
    fresh = tmp_path / "README.md"
    fresh.write_text(f"{summary.START}\n{summary.END}\n")
    summary.write_summary(summary.NOTEBOOK, fresh, tmp_path)
    committed = summary.read_section(README.read_text(encoding="utf-8"))
    assert committed == summary.read_section(fresh.read_text()), "README summary is stale: run `make summary`"
    for path in (tmp_path / summary.FIGURES_DIR).iterdir():
        relative = path.relative_to(tmp_path)
        assert (REPO / relative).read_bytes() == path.read_bytes(), f"{relative} is stale: run `make summary`"


def test_wide_blocks_finds_what_scrolls_sideways_on_github():
    code = "```python\nx = 1\n" + "y = '" + "a" * 100 + "'\n```\n"
    output = "    " + "b" * 101 + "\n"
    table = "<table><tr><th>" + "</th><th>".join(["unbreakable_column_name_25"] * 5) + "</th></tr></table>"
    found = summary.wide_blocks(code + "\ntext\n\n" + output + "\n" + table)
    assert len(found) == 3 and found[0].startswith("106 characters") and found[1].startswith("101 characters")
    # The same width in words wraps inside its cells, as a browser lays a table out: it fits.
    wrapping = "<table><tr><th>" + "</th><th>".join(["a column name of 25 chars."] * 5) + "</th></tr></table>"
    assert summary.wide_blocks(wrapping) == []
    assert summary.wide_blocks("```python\n" + "x" * 100 + "\n```\n\n    " + "y" * 100 + "\n") == []


def test_a_table_wider_than_githubs_column_is_found_in_the_browser(tmp_path):
    narrow = "<table><tr><th>gender</th><th>approval rate</th></tr><tr><td>Female</td><td>0.11</td></tr></table>"
    wide = "<table><tr>" + "<td>unbreakable_cell_value</td>" * 8 + "</tr></table>"
    assert summary.tables_that_scroll(narrow + "\n\n" + wide, tmp_path) == [
        summary.tables_that_scroll(wide, tmp_path)[0]]


def test_readme_summary_reads_well_on_github(tmp_path):
    """The story without setup or asserts, no code, output or table wider than GitHub shows, the takeaways last."""
    section = summary.read_section(README.read_text(encoding="utf-8"))
    assert not re.search(r"^\s*assert\b", section, re.MULTILINE)
    assert "import " not in section.split("```python", 1)[1].split("```")[0]  # it opens with the story's code
    wide = [block for block in summary.wide_blocks(section) if not block.startswith("table")]
    assert not wide, wide
    assert not summary.tables_that_scroll(section, tmp_path)
    assert "### Takeaways" in section, "the summary ends with the takeaways"
    last = section[section.rindex("### Takeaways"):]
    assert "```" not in last  # the last code block comes before them: not the code that stops the services
    assert "**Bias**" in last and "https://github.com/" in last  # the mitigation result and the repository


def test_the_lrp_gif_is_an_image_where_the_notebook_is_read():
    """nbconvert (and GitHub) render image/png but not image/gif: the GIF is labelled PNG."""
    from nbconvert.exporters import HTMLExporter

    nb = nbformat.read(summary.NOTEBOOK, as_version=4)
    gif = [cell for cell in nb.cells if "2-lrp-relevance-over-epochs.gif" in cell.source]
    assert gif, "the LRP GIF cell is missing"
    nb.cells = gif
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert "IPython.core.display.Image object" not in html
    assert 'src="data:image/png;base64,R0lGOD' in html  # a GIF the browser animates


def test_every_image_link_in_the_readme_resolves():
    text = README.read_text(encoding="utf-8")
    links = MARKDOWN_IMAGE.findall(text) + HTML_IMAGE.findall(text)
    assert links, "the README links no figure"
    missing = [link for link in links if not (REPO / link).is_file()]
    assert not missing, f"image links in README.md without a file: {missing}"


def test_the_opening_is_short_near_the_top_and_every_figure_has_an_alt_text():
    """What the talk shows in at most 15 lines and 3 figures, above the Quick start; descriptive alt texts."""
    nb = nbformat.read(summary.NOTEBOOK, as_version=4)
    opening, figures = summary.render_opening(nb)
    assert opening and len(opening.strip().splitlines()) <= 15 and 1 <= len(figures) <= 3
    assert "**Bias**" in opening and all(f'src="{path}"' in opening for path in figures)
    assert len(re.findall(r'alt="[^"]{20,}"', opening)) == len(figures)
    readme = README.read_text(encoding="utf-8")
    assert readme.index(summary.OPENING_START) < readme.index("## Quick start") < readme.index(summary.START)
    section, _ = summary.render_summary(nb)
    alts = re.findall(r"!\[([^\]]*)\]\(", section)
    assert alts and not {alt for alt in alts if alt in ("", "png", "figure")}, alts
