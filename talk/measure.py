"""What a speaker meets in index.html at a projector's size: ``python -m talk.slides measure index.html``.

The deck is opened offline in headless Chromium (1280x720 unless told) and every slide, the appendix's
too, is shown in its final fragment state (all fragments visible). Per slide it records what issues 13
and 17 ask of a presentable deck: does the content fit the slide (no scrolling, nothing past the right
edge of the screen), are all fragments on screen, are In/Out prompts shown, is there a heading, how long is
the longest code block, are code lines longer than their box (soft-wrapped or clipped), how many lines of
prose the slide holds, do printed tables break a word, how big are code and body text in screen pixels
(after reveal.js scales the slide), at what scale figures are shown (and so how big their text is), are
image outputs images (not a Python repr), how many words the speaker notes have. ``summarise`` turns the
rows into the issues' table; ``problems`` lists what breaks a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from talk.browser import OfflinePage

SCREEN = (1280, 720)
SCREENS = [(1280, 720), (1920, 1080), (1024, 768)]  # a projector, a full-HD screen, an old 4:3 projector
# The deck's thresholds: what a presentable slide may hold.
MAX_CODE_LINES = 15
MIN_CODE_PX = 18.0
MIN_BODY_PX = 24.0
MIN_NOTES_SHARE = 0.5
MAX_PROSE_LINES = 6  # 7 or more lines of prose on a slide: the prose belongs in the notes
MAX_OVERFLOW_PX = 1.0  # rounding; anything more is content past the right edge
# Each figure's PNG records the smallest text it draws, in its own pixels (tutorial/figures.py, read from
# the drawn artists at save time): shown at scale s, that text is px * s CSS px, i.e. that times 0.75 in CSS
# points (96 px per inch). It must stay at 14 pt or more. A PNG without the record (a GIF, an image made
# elsewhere) is assumed to follow the slide style, MIN_FIGURE_FONT_PT at FIGURE_DPI, and is counted apart.
FIGURE_DPI = 100
MIN_FIGURE_FONT_PT = 14.0
TEXT_RECORD_KEY = "Smallest text px"  # tutorial.figures.TEXT_RECORD_KEY (talk/ does not import tutorial/)
MIN_SCREEN_TEXT_PT = 14.0
WORDS_PER_MINUTE = 130  # speaking pace of the notes
SECONDS_PER_SLIDE = 30  # looking at the slide, changing it, a pause
CLOSING_TAG = "closing"  # the cell tag of the closing slide's markdown cell
# Text a notebook shows for a display object it could not render (the LRP GIF once showed the first).
REPR_PATTERN = r"<IPython\.core\.display\.\w+ object>|<Figure size \d+x\d+ with \d+ Axes>"

# One function the page runs per slide, after showing every fragment of it. Sizes are in screen px:
# CSS px times reveal.js's scale. Speaker notes (aside.notes) are not on the slide and are skipped.
_MEASURE_SLIDE = """
([pattern, closingTag, recordKey]) => {
  const scale = Reveal.getScale();
  const slide = Reveal.getCurrentSlide();
  const config = Reveal.getConfig();
  const onSlide = el => !el.closest('aside.notes');
  const visible = el => onSlide(el) && el.getClientRects().length > 0
      && getComputedStyle(el).visibility !== 'hidden';
  const all = sel => Array.from(slide.querySelectorAll(sel)).filter(visible);
  const px = el => parseFloat(getComputedStyle(el).fontSize) * scale;
  const heading = all('h1, h2, h3, h4, h5, h6')[0];
  const viewportHeight = window.innerHeight;
  const slideRect = slide.getBoundingClientRect();
  const fragmentsOff = Array.from(slide.querySelectorAll('.fragment')).filter(onSlide).filter(f => {
    const r = f.getBoundingClientRect();
    return r.height > 0 && (r.bottom > viewportHeight + 1 || r.top < -1);
  }).length;
  const codeBlocks = all('.jp-InputArea pre, .jp-RenderedMarkdown pre');
  const lines = el => el.textContent.replace(/\\n+$/, '').split('\\n').length;
  const codeText = all('.jp-InputArea pre, .jp-RenderedMarkdown pre, .jp-OutputArea-output pre');
  const bodyText = all('.jp-RenderedMarkdown p, .jp-RenderedMarkdown li')
      .filter(el => el.textContent.trim() && !el.closest('table'));
  const tableText = all('.jp-OutputArea-output td, .jp-OutputArea-output th');
  // The right edge: the slide's, or the screen's when the slide is wider than the screen.
  const rightEdge = Math.min(window.innerWidth, slideRect.left + config.width * scale);
  const boxes = all('.jp-OutputArea-output, .jp-RenderedMarkdown, .jp-InputArea, pre, img, table');
  // Content wider than its box: cut off at the right edge or hidden behind a horizontal scroll bar.
  const tooWide = boxes.some(el => el.scrollWidth > el.clientWidth + 1
      || el.getBoundingClientRect().right > rightEdge + 1);
  const overflow = Math.max(0, ...boxes.map(el => el.getBoundingClientRect().right - rightEdge));
  // Text widths in CSS px from the element's own font (a canvas measures without wrapping).
  const canvas = document.createElement('canvas').getContext('2d');
  const width = (text, el) => {
    const s = getComputedStyle(el);
    canvas.font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
    return canvas.measureText(text).width;
  };
  const contentWidth = el => {
    // What is visible of the box's content: its width, cut at the right edge of the screen or slide.
    const s = getComputedStyle(el), r = el.getBoundingClientRect();
    const left = r.left + (parseFloat(s.borderLeftWidth) + parseFloat(s.paddingLeft)) * scale;
    const right = Math.min(r.right - (parseFloat(s.borderRightWidth) + parseFloat(s.paddingRight)) * scale,
                           rightEdge);
    return (right - left) / scale;
  };
  // Code and output lines longer than the box: soft-wrapped onto two lines, or clipped.
  const longLines = codeText.map(pre => {
    const room = contentWidth(pre) + 0.5;
    return pre.textContent.replace(/\\n+$/, '').split('\\n')
        .filter(line => width(line.replace(/\\t/g, '    '), pre) > room).length;
  });
  // Prose: lines of text in markdown paragraphs and list items (not headings, code, tables).
  const proseTops = [];
  all('.jp-RenderedMarkdown p, .jp-RenderedMarkdown li').filter(el => !el.closest('table')).forEach(el => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim() || node.parentElement.closest('pre')) continue;
      if (node.parentElement.closest('p, li') !== el && node.parentElement.closest('p, li') !== null
          && el.contains(node.parentElement.closest('p, li')) ) continue;  // counted with its own item
      const range = document.createRange();
      range.selectNodeContents(node);
      Array.from(range.getClientRects()).forEach(r => { if (r.width > 1) proseTops.push(r.bottom); });
    }
  });
  proseTops.sort((a, b) => a - b);
  const lineGap = 12 * scale;  // line boxes of one line differ by a few px (inline code), lines by ~35
  const proseLines = proseTops.filter((bottom, i) => i === 0 || bottom - proseTops[i - 1] > lineGap).length;
  // Table cells whose text is wider than the cell: a word broken in the middle, or cut off.
  const brokenCells = tableText.filter(cell => {
    if (cell.scrollWidth > cell.clientWidth + 1) return true;
    const room = contentWidth(cell) + 0.5;
    return cell.textContent.split(/\\s+/).some(word => word && width(word, cell) > room);
  }).length;
  const outputs = all('.jp-OutputArea-output');
  const reprs = outputs.filter(el => new RegExp(pattern).test(el.textContent)).length;
  const images = all('.jp-OutputArea-output img, .jp-RenderedMarkdown img');
  // The smallest text a PNG records (tEXt chunk, before the image data): null when it has none.
  const recorded = img => {
    const m = /^data:image\\/png;base64,(.*)$/.exec(img.getAttribute('src') || '');
    if (!m) return null;
    const head = atob(m[1].slice(0, 8192).replace(/[^A-Za-z0-9+/]/g, '').slice(0, 8188));
    const at = head.indexOf(recordKey + '\\u0000');
    return at < 0 ? null : parseFloat(head.slice(at + recordKey.length + 1, at + recordKey.length + 12));
  };
  const notes = slide.querySelector('aside.notes');
  const notesText = notes ? notes.textContent.trim() : '';
  const min = values => values.length ? Math.min(...values) : null;
  return {
    title: heading ? heading.textContent.replace(/\\u00b6/g, '').trim() : '',
    cells: Array.from(slide.querySelectorAll('[id^="cell-id="]')).filter(onSlide)
        .map(el => el.id.replace('cell-id=', '')),
    appendix: slide.dataset.visibility === 'uncounted',
    content_height: Math.round(slide.scrollHeight * scale),
    slide_height: Math.round(config.height * scale),
    fragments: slide.querySelectorAll('.fragment').length,
    fragments_off: fragmentsOff,
    prompts: all('.jp-InputPrompt, .jp-OutputPrompt').filter(el => el.textContent.trim()).length,
    code_lines: Math.max(0, ...codeBlocks.map(lines)),
    long_lines: longLines.reduce((a, b) => a + b, 0),
    prose_lines: proseLines,
    broken_cells: brokenCells,
    code_px: min(codeText.map(px)),
    body_px: min(bodyText.map(px)),
    table_px: min(tableText.map(px)),
    too_wide: tooWide,
    overflow_px: Math.round(overflow * 10) / 10,
    reprs: reprs,
    images: images.length,
    broken_images: images.filter(img => !(img.complete && img.naturalWidth > 0)).length,
    image_widths: images.map(img => Math.round(img.getBoundingClientRect().width)),
    image_scales: images.filter(img => img.naturalWidth > 0)
        .map(img => Math.round(img.getBoundingClientRect().width / img.naturalWidth * 1000) / 1000),
    image_text_px: images.filter(img => img.naturalWidth > 0).map(recorded),
    notes: Boolean(notesText),
    notes_words: notesText ? notesText.split(/\\s+/).length : 0,
    closing: slide.querySelector('.celltag_' + closingTag) !== null,
    code_inputs: all('.jp-CodeCell .jp-InputArea').length,
  };
}
"""


@dataclass
class DeckMeasure:
    slides: list[dict]
    fragments: int
    exceptions: list[str]
    console_errors: list[str]
    failed_requests: list[str]


# Every slide in document order, the appendix's (reveal's "uncounted" ones) too: Reveal.getSlides() has
# only the counted ones.
_ALL_SLIDES = ("Array.from(document.querySelectorAll('.reveal .slides section'))"
               ".filter(s => !s.querySelector('section'))")


def measure_deck(index: Path, screen: tuple[int, int] = SCREEN, screenshot_dir: Path | None = None,
                 timeout: float = 60.0, query: str = "") -> DeckMeasure:
    """Open ``index`` offline at ``screen`` size and measure every slide with all its fragments shown.

    ``query``: the deck's options, e.g. "?talk=20" for the 20-minute cut.
    """
    width, height = screen
    with OfflinePage(width=width, height=height, timeout=timeout) as page:
        page.open(index, query)
        page.wait_for("typeof Reveal !== 'undefined' && Reveal.isReady()")
        page.wait_for("Array.from(document.images).every(img => img.complete)")
        # No transitions: a slide in the middle of sliding in would be measured where it is passing.
        # Nor fragment fades: a fragment's visibility changes at the end of its transition.
        page.evaluate("Reveal.configure({transition: 'none', backgroundTransition: 'none'})")
        page.page.add_style_tag(content=".reveal .slides section .fragment { transition: none !important; }")
        count = page.evaluate(f"{_ALL_SLIDES}.length")
        rows = []
        for number in range(count):
            page.evaluate(
                f"""n => {{ const at = Reveal.getIndices({_ALL_SLIDES}[n]); Reveal.slide(at.h, at.v);
                          while (Reveal.nextFragment()) {{}}
                          // A slide that scrolls is measured from its top, as a speaker first sees it.
                          Reveal.getCurrentSlide().scrollTop = 0; }}""",
                number,
            )
            row = page.evaluate(_MEASURE_SLIDE, [REPR_PATTERN, CLOSING_TAG, TEXT_RECORD_KEY])
            row["number"] = number + 1
            rows.append(row)
            if screenshot_dir is not None:
                page.screenshot(Path(screenshot_dir) / f"slide-{number + 1:02d}.png")
        fragments = page.evaluate("document.querySelectorAll('.reveal .slides .fragment').length")
        return DeckMeasure(rows, fragments, list(page.exceptions), list(page.console_errors),
                           list(page.failed_requests))


def min_figure_text_pt(scale: float, text_px: float | None = None) -> float:
    """Screen size in CSS points of a figure's smallest text when the figure is shown at ``scale``.

    ``text_px``: the smallest text the figure's PNG records (None: the slide style's MIN_FIGURE_FONT_PT).
    """
    if text_px is None:
        text_px = MIN_FIGURE_FONT_PT * FIGURE_DPI / 72
    return text_px * scale * 0.75


def figure_texts(row: dict) -> list[float]:
    """Screen size (CSS pt) of the smallest text of each figure of a slide."""
    recorded = row.get("image_text_px") or [None] * len(row["image_scales"])
    return [min_figure_text_pt(scale, px) for scale, px in zip(row["image_scales"], recorded)]


def minutes(words: int, slides: int) -> float:
    """Length of a talk: its notes said at WORDS_PER_MINUTE plus SECONDS_PER_SLIDE per slide."""
    return words / WORDS_PER_MINUTE + slides * SECONDS_PER_SLIDE / 60


def summarise(deck: DeckMeasure) -> dict:
    """The issues' table: one number (or short text) per measure; the appendix is measured as well."""
    rows = deck.slides
    main = [r for r in rows if not r["appendix"]]

    def slides_where(test):
        return [r["number"] for r in rows if test(r)]

    longest = max(rows, key=lambda r: r["code_lines"], default=None)
    code_px = [r["code_px"] for r in rows if r["code_px"] is not None]
    body_px = [r["body_px"] for r in rows if r["body_px"] is not None]
    table_px = [r["table_px"] for r in rows if r["table_px"] is not None]
    scales = [scale for r in rows for scale in r["image_scales"]]
    texts = [pt for r in rows for pt in figure_texts(r)]
    last = main[-1] if main else {}
    words = sum(r["notes_words"] for r in main)
    return {
        "slides": len(main),
        "appendix": len(rows) - len(main),
        "fragments": deck.fragments,
        "notes_words": words,
        "minutes": round(minutes(words, len(main)), 1),
        "too_tall": slides_where(lambda r: r["content_height"] > r["slide_height"] + 1),
        "too_wide": slides_where(lambda r: r["too_wide"] or r["overflow_px"] > MAX_OVERFLOW_PX),
        "overflow_px": max((r["overflow_px"] for r in rows), default=0),
        "long_lines": sum(r["long_lines"] for r in rows),
        "long_lines_slides": slides_where(lambda r: r["long_lines"]),
        # Prose is the talk's concern; an appendix slide is a backup for questions, read, not presented.
        "prose_heavy": slides_where(lambda r: r["prose_lines"] > MAX_PROSE_LINES and not r["appendix"]),
        "prose_heavy_appendix": slides_where(lambda r: r["prose_lines"] > MAX_PROSE_LINES and r["appendix"]),
        "most_prose": max((r["prose_lines"] for r in rows), default=0),
        "broken_tables": slides_where(lambda r: r["broken_cells"]),
        "fragments_off": sum(r["fragments_off"] for r in rows),
        "fragments_off_slides": slides_where(lambda r: r["fragments_off"]),
        "prompts": sum(r["prompts"] for r in rows),
        "untitled": slides_where(lambda r: not r["title"]),
        "longest_code": longest["code_lines"] if longest else 0,
        "longest_code_slide": longest["number"] if longest else None,
        "long_code": slides_where(lambda r: r["code_lines"] > MAX_CODE_LINES),
        "code_px": round(min(code_px), 1) if code_px else None,
        "small_code": slides_where(lambda r: r["code_px"] is not None and r["code_px"] < MIN_CODE_PX - 0.05),
        "body_px": round(min(body_px), 1) if body_px else None,
        "small_body": slides_where(lambda r: r["body_px"] is not None and r["body_px"] < MIN_BODY_PX - 0.05),
        "table_px": round(min(table_px), 1) if table_px else None,
        "figure_scale": round(min(scales), 2) if scales else None,
        "figure_text_pt": round(min(texts), 1) if texts else None,
        "small_figures": slides_where(lambda r: any(pt < MIN_SCREEN_TEXT_PT - 0.05 for pt in figure_texts(r))),
        "unrecorded_figures": slides_where(lambda r: None in (r.get("image_text_px") or [None] * len(
            r["image_scales"]))),
        "reprs": slides_where(lambda r: r["reprs"]),
        "broken_images": slides_where(lambda r: r["broken_images"]),
        "images": sum(r["images"] for r in rows),
        "notes": sum(r["notes"] for r in rows),
        "all_slides": len(rows),
        "closing": bool(last.get("closing") and last.get("title") and not last.get("code_inputs")),
        "last_title": last.get("title", ""),
    }


def problems(summary: dict, max_slides: int | None = None, max_minutes: float | None = None) -> list[str]:
    """What breaks the thresholds of issues 13 and 17 ([] for a presentable deck).

    ``max_slides`` / ``max_minutes``: the talk's slot (45 and 45 for the talk, None: not checked).
    """
    found = []
    checks = [
        ("too_tall", "slides taller than the slide"),
        ("too_wide", "slides with content past the right edge"),
        ("long_lines_slides", "slides with code or output lines longer than their box (soft-wrapped or cut)"),
        ("prose_heavy", f"slides of the talk with more than {MAX_PROSE_LINES} lines of prose"),
        ("broken_tables", "slides with a table cell too narrow for a word"),
        ("fragments_off_slides", "slides with fragments off screen"),
        ("untitled", "slides without a heading"),
        ("long_code", f"slides with a code block over {MAX_CODE_LINES} lines"),
        ("small_code", f"slides with code under {MIN_CODE_PX:g} px"),
        ("small_body", f"slides with body text under {MIN_BODY_PX:g} px"),
        ("small_figures", f"slides with figure text under {MIN_SCREEN_TEXT_PT:g} pt (figure shown too small)"),
        ("reprs", "slides showing an image output as a Python repr"),
        ("broken_images", "slides with images that did not load"),
    ]
    for key, what in checks:
        if summary[key]:
            found.append(f"{what}: {summary[key]}")
    if summary["prompts"]:
        found.append(f"In/Out prompts shown: {summary['prompts']}")
    if summary["slides"] and summary["notes"] < MIN_NOTES_SHARE * summary["all_slides"]:
        found.append(f"speaker notes on {summary['notes']} of {summary['all_slides']} slides "
                     f"(at least {MIN_NOTES_SHARE:.0%})")
    if not summary["closing"]:
        found.append(f"no closing slide (a titled markdown slide tagged {CLOSING_TAG!r}, no code shown, last "
                     f"before the appendix); the last slide is {summary['last_title']!r}")
    if max_slides is not None and summary["slides"] > max_slides:
        found.append(f"{summary['slides']} slides in the talk (at most {max_slides}; the rest in the appendix)")
    if max_minutes is not None and summary["minutes"] > max_minutes:
        found.append(f"the talk takes {summary['minutes']} min (at most {max_minutes})")
    return found


def format_table(summary: dict) -> str:
    """The measures as the markdown table of issues 13 and 17."""
    def listed(numbers):
        return f"{len(numbers)}" + (f" (slides {', '.join(map(str, numbers))})" if numbers else "")

    lines = [
        ("slides in the talk (+ appendix)", f"{summary['slides']} (+ {summary['appendix']}), "
                                            f"{summary['fragments']} fragments"),
        ("length: notes at 130 words/min + 30 s a slide", f"{summary['minutes']} min "
                                                          f"({summary['notes_words']} words of notes)"),
        ("slides taller than the slide (the speaker must scroll)", listed(summary["too_tall"])),
        ("slides with content past the right edge", listed(summary["too_wide"])
         + f", at most {summary['overflow_px']} px"),
        ("code/output lines longer than their box (soft-wrapped or cut)",
         f"{summary['long_lines']} on {listed(summary['long_lines_slides'])}"),
        (f"slides with {MAX_PROSE_LINES + 1}+ lines of prose", listed(summary["prose_heavy"])
         + f" in the talk, {listed(summary['prose_heavy_appendix'])} in the appendix; most {summary['most_prose']}"),
        ("slides with a table cell too narrow for a word", listed(summary["broken_tables"])),
        ("fragments that appear below the visible area", f"{summary['fragments_off']}"
         + (f" (slides {', '.join(map(str, summary['fragments_off_slides']))})"
            if summary["fragments_off_slides"] else "")),
        ("`In [n]:` / `Out[n]:` prompts shown", str(summary["prompts"])),
        ("slides without a heading", listed(summary["untitled"])),
        ("longest code block on a slide", f"{summary['longest_code']} lines (slide "
                                          f"{summary['longest_code_slide']}); over {MAX_CODE_LINES}: "
                                          f"{listed(summary['long_code'])}"),
        ("code font on screen (smallest)", f"{summary['code_px']} px"),
        ("body text on screen (smallest)", f"{summary['body_px']} px"),
        ("table text on screen (smallest)", f"{summary['table_px']} px"),
        ("figures: smallest scale shown; smallest drawn text on screen", f"{summary['figure_scale']}; "
                                                             f"{summary['figure_text_pt']} pt; under "
                                                             f"{MIN_SCREEN_TEXT_PT:g} pt: "
                                                             f"{listed(summary['small_figures'])}"),
        ("figures without a record of their drawn text (assumed at the slide style)",
         listed(summary["unrecorded_figures"])),
        ("image outputs shown as a Python repr", listed(summary["reprs"])),
        ("images on slides", str(summary["images"])),
        ("slides with speaker notes", f"{summary['notes']} of {summary['all_slides']}"),
        ("last slide of the talk", f"{summary['last_title']!r}" + (" (closing slide)" if summary["closing"] else
                                                                   " (no closing slide)")),
    ]
    return "\n".join(["| measure | value |", "| --- | --- |", *(f"| {m} | {v} |" for m, v in lines)])


def format_slides(deck: DeckMeasure) -> str:
    """One line per slide: where a problem is and which notebook cells it comes from."""
    out = []
    for r in deck.slides:
        flags = []
        if r["content_height"] > r["slide_height"] + 1:
            flags.append(f"tall {r['content_height']}/{r['slide_height']} px")
        if r["too_wide"] or r["overflow_px"] > MAX_OVERFLOW_PX:
            flags.append(f"wide (+{r['overflow_px']} px)")
        if r["long_lines"]:
            flags.append(f"{r['long_lines']} long lines")
        if r["prose_lines"] > MAX_PROSE_LINES:
            flags.append(f"{r['prose_lines']} lines of prose")
        if r["broken_cells"]:
            flags.append(f"{r['broken_cells']} table cells break a word")
        if any(pt < MIN_SCREEN_TEXT_PT - 0.05 for pt in figure_texts(r)):
            flags.append(f"figure text {min(figure_texts(r)):.1f} pt")
        if r["fragments_off"]:
            flags.append(f"{r['fragments_off']} fragments off")
        if r["prompts"]:
            flags.append(f"{r['prompts']} prompts")
        if r["code_lines"] > MAX_CODE_LINES:
            flags.append(f"code {r['code_lines']} lines")
        if r["code_px"] is not None and r["code_px"] < MIN_CODE_PX - 0.05:
            flags.append(f"code {r['code_px']:.1f} px")
        if r["body_px"] is not None and r["body_px"] < MIN_BODY_PX - 0.05:
            flags.append(f"body {r['body_px']:.1f} px")
        if r["reprs"]:
            flags.append("repr instead of image")
        if not r["title"]:
            flags.append("untitled")
        cells = ",".join(r["cells"]) if r["cells"] else "-"
        where = "A" if r["appendix"] else " "
        note = f"{r['notes_words']}w" if r["notes"] else "no notes"
        out.append(f"{r['number']:3d}{where} {r['title'][:44]!r:46} [{cells}] {note}; {'; '.join(flags) or 'ok'}")
    return "\n".join(out)
