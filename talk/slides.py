"""The notebook as a talk: RISE settings for live presenting, and index.html, a deck that presents offline.

``make rise`` writes the notebook-level RISE metadata (idempotent), ``make slides`` writes index.html
from the executed notebook with nbconvert's SlidesExporter and a template (templates/offline_reveal.html.j2)
that inlines reveal.js from node_modules (``npm ci``) instead of loading it from a CDN: the deck is one
self-contained file, for a speaker without Wi-Fi and for a hosted page alike.

``python -m talk.slides measure [index.html] [--slides]`` opens a deck offline at 1280x720 and prints
what a speaker meets (talk/measure.py): slides that overflow, fragments off screen, prompts, untitled
slides, code block length, font sizes, image outputs, speaker notes, a closing slide.

What a cell shows in the deck:
- slide type ``skip``: left out; ``notes``: speaker notes (press S); the others as RISE does.
- tag ``hide-input``: output only (the code stays in the notebook); tag ``hide-output``: code only.
- stderr streams (TensorFlow warnings with timestamps) and widget/JavaScript outputs that cannot run
  offline are dropped; a plain-text or image fallback of the latter is kept.
- image outputs nbconvert does not render (image/gif: the LRP animation) become <img> data: URIs;
  no In/Out prompts; cell tag ``closing`` marks the closing slide.
- code lines over CODE_WIDTH characters are broken for the deck after a comma inside brackets (the
  notebook keeps its layout; a long trailing comment moves above its line), and printed output lines
  over CODE_WIDTH are broken between words with an indented continuation, so that nothing soft-wraps
  or runs past the right edge at 1280x720.

The talk and its cuts (cell tags on the cell that opens a slide):
- ``appendix``: the slide leaves the 45-minute talk for the appendix after the closing slide (reveal.js
  "uncounted" slides: out of the slide count and the progress bar, still reachable with Space/arrows);
- ``talk-20``: the slide is in the 20-minute cut, ``index.html?talk=20`` (every other slide goes to its
  appendix). Navigation is linear: Space and the arrow keys go to the next slide, down a section included.
``python -m talk.slides mark-notes`` starts every speaker-notes cell with NOTES_MARKER (idempotent), so
that the notes read as notes where the notebook is read (GitHub); the deck leaves the marker out.
"""

from __future__ import annotations

import argparse
import copy
import html.parser
import io
import re
import sys
import textwrap
import tokenize
from pathlib import Path

import nbformat
from nbconvert.exporters import SlidesExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from traitlets.config import Config

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "explainability-and-bias.ipynb"
INDEX_HTML = REPO / "index.html"
REVEAL_DIR = REPO / "node_modules" / "reveal.js"
TEMPLATE = Path(__file__).resolve().parent / "templates" / "offline_reveal.html.j2"

SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes", "-")
APPENDIX_TAG = "appendix"  # the slide goes to the appendix of the talk
CUTS = {"20": "talk-20"}  # index.html?talk=20: the slides tagged talk-20
TALK_MINUTES = {None: 45, "20": 20}  # the slot of each cut, in minutes; at most one slide a minute
APPENDIX_TEXT = "Slides the talk skips, in notebook order: the notebook has every detail."
# A code or output line of the deck fits the slide at 18 px (about 109 characters). The README summary
# uses SUMMARY_WIDTH (GitHub shows about 100 monospace characters before a block scrolls).
CODE_WIDTH = 106
# The first line of every speaker-notes cell: GitHub shows notes inline, this says what they are.
NOTES_MARKER = "> 🗣 **Speaker notes**"

# Pixel size the deck is laid out at (reveal.js scales it to the screen): a 16:9 projector's, with no
# margin, so that font sizes in the template are screen pixels at 1280x720.
DECK_WIDTH, DECK_HEIGHT, DECK_MARGIN = 1280, 720, 0.0

# Notebook-level metadata read by jupyterlab-rise (`make present`); index.html uses the same look.
RISE_SETTINGS = {
    "theme": "white",  # a reveal.js theme whose fonts are inlined in its CSS (others @import Google Fonts)
    "transition": "slide",
    "scroll": True,  # a slide that is too tall scrolls (the deck test still counts it as a fault)
    "start_slideshow_at": "beginning",
    "slideNumber": "c/t",
    "controls": True,
    "progress": True,
    "history": True,
    "center": False,  # content slides read top-down; a centred code cell jumps around
    "autolaunch": False,
    "enable_chalkboard": False,
    "width": DECK_WIDTH,  # live slides laid out like index.html
    "height": DECK_HEIGHT,
    "navigationMode": "linear",  # Space and the arrows: the next slide, never the next section
}

HIDE_INPUT_TAG = "hide-input"
HIDE_OUTPUT_TAG = "hide-output"
# Output types that need a live kernel or a JavaScript library the offline deck does not have.
LIVE_ONLY_MIMETYPES = ("application/vnd.jupyter.widget-view+json", "application/javascript")
# Image types nbconvert's templates render; any other image/* (GIF, WebP) would show its text/plain repr.
RENDERED_IMAGE_MIMETYPES = ("image/png", "image/jpeg", "image/svg+xml")


def slide_type(cell) -> str | None:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type")


def cells_without_slide_type(nb) -> list[int]:
    """Indexes of cells that have no (or an unknown) ``metadata.slideshow.slide_type``."""
    return [i for i, cell in enumerate(nb.cells) if slide_type(cell) not in SLIDE_TYPES]


# A test knob in a cell the audience sees: fast-mode choices and asserts belong in skipped cells.
_TEST_KNOB = re.compile(r"\bFAST\b|^\s*assert\b", re.MULTILINE)


def visible_test_knobs(nb) -> list[tuple[str, str]]:
    """(cell id, line) of code shown on a slide that carries a test knob (``FAST``, an assert)."""
    found = []
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type != "code" or slide_type(cell) in ("skip", "notes") or HIDE_INPUT_TAG in tags:
            continue
        for line in cell.source.splitlines():
            if _TEST_KNOB.search(line):
                found.append((cell.get("id", "?"), line.strip()))
    return found


def apply_rise_metadata(nb, settings: dict | None = None) -> bool:
    """Set our keys of ``nb.metadata.rise`` (others set by hand stay); True if anything changed."""
    wanted = {**(nb.metadata.get("rise") or {}), **(settings or RISE_SETTINGS)}
    if nb.metadata.get("rise") == wanted:
        return False
    nb.metadata["rise"] = wanted
    return True


def expected_slide_count(nb) -> int:
    """Number of slides (reveal.js counts horizontal and vertical ones) the deck of ``nb`` has.

    Computed from slide types the way RISE reads them: the first cell that is neither skip nor notes
    opens the first slide, and every later ``slide`` or ``subslide`` cell opens another one.
    """
    types = [slide_type(cell) or "-" for cell in nb.cells]
    shown = [i for i, t in enumerate(types) if t not in ("skip", "notes")]
    if not shown:
        return 0
    return 1 + sum(t in ("slide", "subslide") for t in types[shown[0] + 1:])


def clean_outputs(nb):
    """A copy of ``nb`` without stderr streams and without outputs that only work with a live kernel."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                continue
            data = output.get("data")
            if data is not None:
                for mimetype in LIVE_ONLY_MIMETYPES:
                    data.pop(mimetype, None)
                if not data:
                    continue
            kept.append(output)
        cell.outputs = kept
    return nb


def other_images(output) -> list[str]:
    """The image MIME types of ``output`` nbconvert would not render (when no rendered one is beside them)."""
    data = output.get("data") or {}
    if any(mimetype in data for mimetype in RENDERED_IMAGE_MIMETYPES):
        return []
    return [mimetype for mimetype in data if mimetype.startswith("image/")]


def images_as_html(nb):
    """A copy of ``nb`` whose GIF (and other image/*) outputs are <img> tags with a data: URI."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for mimetype in other_images(output):
                encoded = "".join(output.data[mimetype].split())  # base64, as the notebook stores it
                output.data = {"text/html": f'<img src="data:{mimetype};base64,{encoded}" alt="{mimetype}">'}
                break
    return nb


def tag_filter() -> TagRemovePreprocessor:
    """The tags shared by the deck and the README summary: what a cell shows of itself."""
    return TagRemovePreprocessor(
        enabled=True,
        remove_input_tags={HIDE_INPUT_TAG},
        remove_all_outputs_tags={HIDE_OUTPUT_TAG},
    )


def _break_long_line(source: str, width: int) -> str | None:
    """``source`` with its first line over ``width`` broken once, or None if there is none it can break.

    A line breaks after its last comma inside brackets that leaves the first part within ``width``
    (Python joins the lines inside brackets), the rest indented by 4 more; else inside a string literal
    (two adjacent literals) or after an opening bracket. A trailing comment that makes a line too long
    moves to a line of its own above it; a comment line is re-wrapped. Tokens, not text, so that commas in strings and
    comments are not taken for separators.
    """
    lines = source.split("\n")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None  # IPython magics, shell escapes: left as they are
    depth, breaks, opens, comments, strings = 0, {}, {}, {}, {}
    # Lines Python cannot read (an IPython "!" shell escape): left as they are.
    unreadable = {token.start[0] for token in tokens if token.type == tokenize.ERRORTOKEN}
    for token in tokens:
        row, col = token.start
        if token.type == tokenize.STRING and token.end[0] == row and (depth > 0 or token.string.endswith(
                ('"""', "'''"))):
            strings.setdefault(row, []).append(token)
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
            if col + 1 <= width:
                opens[row] = col + 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        elif token.type == tokenize.OP and token.string == "," and depth > 0 and col + 1 <= width:
            breaks[row] = col + 1
        elif token.type == tokenize.COMMENT:
            comments[row] = col
    for row, line in enumerate(lines, start=1):
        if len(line) <= width or row in unreadable:
            continue
        indent = line[: len(line) - len(line.lstrip())]
        if row in comments and not line[: comments[row]].strip():  # a comment line: re-wrap its words
            text = line[comments[row]:].lstrip("#").strip()
            lines[row - 1: row] = [f"{indent}# {part}" for part in textwrap.wrap(text, width - len(indent) - 2)]
        elif row in comments and len(line[: comments[row]].rstrip()) <= width:
            lines[row - 1: row] = [indent + line[comments[row]:], line[: comments[row]].rstrip()]
        elif row in breaks and line[breaks[row]:].strip():
            lines[row - 1: row] = [line[: breaks[row]], indent + "    " + line[breaks[row]:].lstrip()]
        elif _split_string(lines, row, strings.get(row, []), width, indent):
            pass
        elif row in opens and line[opens[row]:].strip():  # after an opening bracket, the rest indented
            lines[row - 1: row] = [line[: opens[row]], indent + "    " + line[opens[row]:].lstrip()]
        else:
            continue
        return "\n".join(lines)
    return None


def _split_string(lines: list[str], row: int, strings: list, width: int, indent: str) -> bool:
    """Split a one-line string literal inside brackets that crosses ``width`` into two adjacent literals
    (Python concatenates them), at a space outside f-string braces, or a one-line triple-quoted string
    (a docstring) into two lines; True if one was split."""
    line = lines[row - 1]
    for token in strings:
        start, end = token.start[1], token.end[1]
        prefix = token.string[: len(token.string) - len(token.string.lstrip("rRbBfFuU"))]
        quote = token.string[len(prefix)]
        if not start < width < end:
            continue
        if token.string[len(prefix):].startswith(quote * 3):  # a one-line docstring: a new line inside it
            cut = line.rfind(" ", start + len(prefix) + 3, width)
            if cut > 0:
                lines[row - 1: row] = [line[:cut], indent + line[cut + 1:]]
                return True
            continue
        braces, cut = 0, None
        for i in range(start + len(prefix) + 1, min(end - 1, width - 1)):
            braces += {"{": 1, "}": -1}.get(line[i], 0) if "f" in prefix.lower() else 0
            if line[i] == " " and braces == 0:
                cut = i + 1
        if cut is not None:
            lines[row - 1: row] = [line[:cut] + quote, indent + "    " + prefix + quote + line[cut:]]
            return True
    return False


def wrapped_code(source: str, width: int = CODE_WIDTH) -> str:
    """``source`` with lines over ``width`` broken where Python allows it (see _break_long_line)."""
    for _ in range(50):  # each pass breaks one line; a cell has far fewer long lines
        broken = _break_long_line(source, width)
        if broken is None:
            break
        source = broken
    return source


def wrapped_text(text: str, width: int = CODE_WIDTH) -> str:
    """Printed text with every line over ``width`` broken between words, continued indented."""
    lines = []
    for line in text.split("\n"):
        if len(line) <= width:
            lines.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        lines.extend(textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False,
                                   replace_whitespace=False, drop_whitespace=True))
    return "\n".join(lines)


_FENCED = re.compile(r"^(```[^\n]*\n)(.*?)(^```)", re.DOTALL | re.MULTILINE)


def wrapped_fences(markdown: str, width: int = CODE_WIDTH) -> str:
    """Markdown whose fenced code blocks (code excerpts, PromQL) have no line over ``width``."""
    return _FENCED.sub(lambda m: m.group(1) + wrapped_text(m.group(2), width) + m.group(3), markdown)


def fit_width(nb, width: int = CODE_WIDTH):
    """A copy of ``nb`` whose code and printed outputs have no line over ``width`` (where they can)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.source = wrapped_code(cell.source, width)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                output["text"] = wrapped_text(output["text"], width)
            data = output.get("data") or {}
            if list(data) == ["text/plain"]:
                data["text/plain"] = wrapped_text(data["text/plain"], width)
            if "text/markdown" in data:
                data["text/markdown"] = wrapped_fences(data["text/markdown"], width)
    return nb


def without_notes_marker(nb):
    """A copy of ``nb`` whose notes cells do not start with NOTES_MARKER (the speaker knows they are notes)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if slide_type(cell) == "notes" and cell.source.startswith(NOTES_MARKER):
            cell.source = cell.source[len(NOTES_MARKER):].lstrip("\n")
    return nb


def mark_notes(nb) -> int:
    """Start every speaker-notes cell with NOTES_MARKER on a line of its own; returns the cells changed."""
    changed = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown" and slide_type(cell) == "notes" and not cell.source.startswith(NOTES_MARKER):
            cell.source = f"{NOTES_MARKER}\n\n{cell.source.lstrip()}"
            changed += 1
    return changed


def slide_groups(nb) -> list[list]:
    """The cells of each slide, as RISE groups them: a slide or subslide cell opens a new one."""
    groups: list[list] = []
    for cell in nb.cells:
        kind = slide_type(cell) or "-"
        if kind == "skip":
            continue
        if not groups or (kind in ("slide", "subslide") and any(slide_type(c) != "notes" for c in groups[-1])):
            groups.append([cell])
        else:
            groups[-1].append(cell)
    return [group for group in groups if any(slide_type(c) != "notes" for c in group)]


def talk_slides(nb, cut: str | None = None) -> tuple[list[list], list[list]]:
    """(slides of the talk, slides of its appendix): ``cut`` None is the talk, "20" the 20-minute cut."""
    def opening_tags(group):
        opening = next(c for c in group if slide_type(c) != "notes")
        return opening.get("metadata", {}).get("tags", [])

    talk, appendix = [], []
    for group in slide_groups(nb):
        tags = opening_tags(group)
        out = APPENDIX_TAG in tags or (cut is not None and CUTS[cut] not in tags)
        (appendix if out else talk).append(group)
    return talk, appendix


def prepare(nb):
    """The notebook as the deck shows it (see the module docstring)."""
    nb = fit_width(without_notes_marker(nb))
    nb, _ = tag_filter().preprocess(images_as_html(clean_outputs(nb)), {})
    return nb


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `npm ci` (make slides does) to install reveal.js")
    return path.read_text(encoding="utf-8")


def _inline_script(js: str) -> str:
    # "</script" inside an inline script would end it early; "<\/" means the same in strings and regexes.
    return js.replace("</script", "<\\/script")


def offline_resources(reveal_dir: Path = REVEAL_DIR, settings: dict | None = None) -> dict:
    """The reveal.js files the template inlines, and the Reveal.initialize options."""
    settings = settings or RISE_SETTINGS
    dist = Path(reveal_dir) / "dist"
    options = {
        "controls": settings["controls"],
        "progress": settings["progress"],
        "history": settings["history"],
        "center": settings["center"],
        "transition": settings["transition"],
        "slideNumber": settings["slideNumber"],
        "navigationMode": settings["navigationMode"],
        "width": DECK_WIDTH,
        "height": DECK_HEIGHT,
        "margin": DECK_MARGIN,
    }
    return {
        "reveal_css": _read_text(dist / "reveal.css"),
        "theme_css": _read_text(dist / "theme" / f"{settings['theme']}.css"),
        "reveal_js": _inline_script(_read_text(dist / "reveal.js")),
        "notes_js": _inline_script(_read_text(dist / "plugin" / "notes.js")),
        "reveal_options": options,
        "cut": {"appendix": APPENDIX_TAG, "cuts": CUTS, "appendix_text": APPENDIX_TEXT},
    }


class _LoadFinder(html.parser.HTMLParser):
    """Collects what a page would fetch: src/href of loading tags and url()/@import inside CSS."""

    LOADING_ATTRS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src",
                     "video": "src", "embed": "src", "link": "href", "object": "data"}
    CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.loads: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = self.LOADING_ATTRS.get(tag)
        if name and attrs.get(name):
            self.loads.append(attrs[name])
        if attrs.get("style"):
            self._css(attrs["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self._css(data)

    def _css(self, text: str):
        self.loads.extend(a or b for a, b in self.CSS_URL.findall(text))


def external_loads(page: str) -> list[str]:
    """Every resource ``page`` would load from anywhere but itself (data: URIs are inline)."""
    finder = _LoadFinder()
    finder.feed(page)
    return [url for url in finder.loads if not url.startswith(("data:", "#"))]


# TeX in markdown: $$...$$, \(...\), \[...\], \begin{...}, or $...$ holding a TeX command, ^ or _
# (so that "$50K to $60K" is not taken for a formula).
_TEX = re.compile(r"\$\$|\\\(|\\\[|\\begin\{|\$[^$\n]*[\\^_][^$\n]*\$")


def cells_with_tex(nb) -> list[int]:
    """Markdown cells with TeX formulas: the offline deck carries no MathJax, so it would show raw TeX."""
    return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown" and _TEX.search(cell.source)]


def render_deck(nb, notebook_dir: Path, reveal_dir: Path = REVEAL_DIR, name: str = "index") -> str:
    """The self-contained reveal.js page of ``nb``; images in markdown are read from ``notebook_dir``."""
    tex = cells_with_tex(nb)
    if tex:
        raise ValueError(f"markdown cells {tex} have TeX formulas, which the offline deck cannot render "
                         "(it has no MathJax): write them in plain text or Unicode")
    settings = {**RISE_SETTINGS, **(nb.metadata.get("rise") or {})}
    config = Config()
    config.SlidesExporter.reveal_theme = settings["theme"]
    config.SlidesExporter.reveal_transition = settings["transition"]
    config.SlidesExporter.reveal_scroll = bool(settings["scroll"])
    config.HTMLExporter.embed_images = True  # markdown ![](images/x.png) becomes a data: URI
    config.HTMLExporter.exclude_input_prompt = True  # a talk has no In [n]: / Out[n]:
    config.HTMLExporter.exclude_output_prompt = True
    exporter = SlidesExporter(config=config, template_file=str(TEMPLATE))
    resources = {
        "metadata": {"name": name, "path": str(notebook_dir)},
        "offline": offline_resources(reveal_dir, settings),
    }
    page, _ = exporter.from_notebook_node(prepare(nb), resources=resources)
    loads = external_loads(page)
    if loads:
        raise ValueError(f"the deck would load files from outside itself: {loads[:5]}")
    return page


def build_index_html(notebook: Path = NOTEBOOK, out: Path = INDEX_HTML,
                     reveal_dir: Path = REVEAL_DIR) -> Path:
    """Write the offline deck of ``notebook`` to ``out``."""
    notebook = Path(notebook)
    nb = nbformat.read(notebook, as_version=4)
    page = render_deck(nb, notebook.resolve().parent, reveal_dir, name=notebook.stem)
    Path(out).write_text(page, encoding="utf-8")
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "rise", "mark-notes", "check", "measure"],
                        help="build: write index.html; rise: set the RISE metadata; mark-notes: start each "
                             "speaker-notes cell with the notes marker; check: list cells without a slide "
                             "type or with test knobs on a slide; measure: the deck in headless Chromium")
    parser.add_argument("deck", nargs="?", type=Path, default=INDEX_HTML, help="the deck to measure")
    parser.add_argument("--slides", action="store_true", help="measure: also one line per slide")
    parser.add_argument("--talk", choices=sorted(CUTS), help="measure: the cut (20: index.html?talk=20)")
    parser.add_argument("--screen", default="1280x720", help="measure: the screen size, e.g. 1024x768")
    parser.add_argument("--screenshots", type=Path, help="measure: save a screenshot of each slide here")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK)
    parser.add_argument("--out", type=Path, default=INDEX_HTML)
    args = parser.parse_args(argv)

    if args.command == "build":
        out = build_index_html(args.notebook, args.out)
        nb = nbformat.read(args.notebook, as_version=4)
        talk, appendix = talk_slides(nb)
        short, _ = talk_slides(nb, "20")
        print(f"wrote {out} ({out.stat().st_size // 1024} KiB): a talk of {len(talk)} slides and an appendix of "
              f"{len(appendix)}; {out.name}?talk=20 has {len(short)} slides")
        return 0
    if args.command == "measure":
        from talk import measure

        screen = tuple(int(n) for n in args.screen.split("x"))
        query = f"?talk={args.talk}" if args.talk else ""
        deck = measure.measure_deck(args.deck, screen=screen, screenshot_dir=args.screenshots, query=query)
        summary = measure.summarise(deck)
        if args.slides:
            print(measure.format_slides(deck), end="\n\n")
        print(measure.format_table(summary))
        slot = TALK_MINUTES[args.talk]
        found = measure.problems(summary, max_slides=slot, max_minutes=slot)
        for problem in found:
            print(f"- {problem}")
        return 1 if found else 0
    nb = nbformat.read(args.notebook, as_version=4)
    if args.command == "mark-notes":
        changed = mark_notes(nb)
        if changed:
            nbformat.write(nb, args.notebook)
        print(f"marked {changed} speaker-notes cells of {args.notebook}")
        return 0
    if args.command == "rise":
        if apply_rise_metadata(nb):
            nbformat.write(nb, args.notebook)
            print(f"set the RISE metadata of {args.notebook}")
        else:
            print(f"the RISE metadata of {args.notebook} is already set")
        return 0
    missing = cells_without_slide_type(nb)
    for i in missing:
        first_line = (nb.cells[i].source.splitlines() or [""])[0][:60]
        print(f"cell {i} ({nb.cells[i].cell_type}) has no slide type: {first_line}")
    knobs = visible_test_knobs(nb)
    for cell_id, line in knobs:
        print(f"{cell_id} shows a test knob on its slide: {line[:80]}")
    return 1 if missing or knobs else 0


if __name__ == "__main__":
    sys.exit(main())
