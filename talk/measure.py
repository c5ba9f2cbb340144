"""What a speaker meets in index.html at a projector's size: ``python -m talk.slides measure index.html``.

The deck is opened offline in headless Chromium at 1280x720 and every slide is shown in its final
fragment state (all fragments visible). Per slide it records what issue 13 asks of a presentable deck:
does the content fit the slide (no scrolling), are all fragments on screen, are In/Out prompts shown, is
there a heading, how long is the longest code block, how big are code and body text in screen pixels
(after reveal.js scales the slide), are image outputs images (not a Python repr), are there speaker
notes. ``summarise`` turns the rows into the issue's table; ``problems`` lists what breaks a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from talk.browser import OfflinePage

SCREEN = (1280, 720)
# Thresholds of issue 13's "Done when".
MAX_CODE_LINES = 15
MIN_CODE_PX = 18.0
MIN_BODY_PX = 24.0
MIN_NOTES_SHARE = 0.5
CLOSING_TAG = "closing"  # the cell tag of the closing slide's markdown cell
# Text a notebook shows for a display object it could not render (the LRP GIF once showed the first).
REPR_PATTERN = r"<IPython\.core\.display\.\w+ object>|<Figure size \d+x\d+ with \d+ Axes>"

# One function the page runs per slide, after showing every fragment of it. Sizes are in screen px:
# CSS px times reveal.js's scale. Speaker notes (aside.notes) are not on the slide and are skipped.
_MEASURE_SLIDE = """
([pattern, closingTag]) => {
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
  // Content wider than the slide: cut off at the right edge or hidden behind a horizontal scroll bar.
  const tooWide = all('.jp-OutputArea-output, .jp-RenderedMarkdown, .jp-InputArea, img, table').some(el =>
      el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > slideRect.left
          + config.width * scale + 1);
  const outputs = all('.jp-OutputArea-output');
  const reprs = outputs.filter(el => new RegExp(pattern).test(el.textContent)).length;
  const images = all('.jp-OutputArea-output img, .jp-RenderedMarkdown img');
  const notes = slide.querySelector('aside.notes');
  const min = values => values.length ? Math.min(...values) : null;
  return {
    title: heading ? heading.textContent.replace(/\\u00b6/g, '').trim() : '',
    cells: Array.from(slide.querySelectorAll('[id^="cell-id="]')).filter(onSlide)
        .map(el => el.id.replace('cell-id=', '')),
    content_height: Math.round(slide.scrollHeight * scale),
    slide_height: Math.round(config.height * scale),
    fragments: slide.querySelectorAll('.fragment').length,
    fragments_off: fragmentsOff,
    prompts: all('.jp-InputPrompt, .jp-OutputPrompt').filter(el => el.textContent.trim()).length,
    code_lines: Math.max(0, ...codeBlocks.map(lines)),
    code_px: min(codeText.map(px)),
    body_px: min(bodyText.map(px)),
    table_px: min(tableText.map(px)),
    too_wide: tooWide,
    reprs: reprs,
    images: images.length,
    broken_images: images.filter(img => !(img.complete && img.naturalWidth > 0)).length,
    image_widths: images.map(img => Math.round(img.getBoundingClientRect().width)),
    notes: Boolean(notes && notes.textContent.trim()),
    closing: slide.querySelector('.celltag_' + closingTag) !== null,
    code_cells: slide.querySelectorAll('.jp-CodeCell').length,
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


def measure_deck(index: Path, screen: tuple[int, int] = SCREEN, screenshot_dir: Path | None = None,
                 timeout: float = 60.0) -> DeckMeasure:
    """Open ``index`` offline at ``screen`` size and measure every slide with all its fragments shown."""
    width, height = screen
    with OfflinePage(width=width, height=height, timeout=timeout) as page:
        page.open(index)
        page.wait_for("typeof Reveal !== 'undefined' && Reveal.isReady()")
        page.wait_for("Array.from(document.images).every(img => img.complete)")
        # No transitions: a slide in the middle of sliding in would be measured where it is passing.
        # Nor fragment fades: a fragment's visibility changes at the end of its transition.
        page.evaluate("Reveal.configure({transition: 'none', backgroundTransition: 'none'})")
        page.page.add_style_tag(content=".reveal .slides section .fragment { transition: none !important; }")
        count = page.evaluate("Reveal.getSlides().length")
        rows = []
        for number in range(count):
            page.evaluate(
                """n => { const at = Reveal.getIndices(Reveal.getSlides()[n]); Reveal.slide(at.h, at.v);
                          while (Reveal.nextFragment()) {}
                          // A slide that scrolls is measured from its top, as a speaker first sees it.
                          Reveal.getCurrentSlide().scrollTop = 0; }""",
                number,
            )
            row = page.evaluate(_MEASURE_SLIDE, [REPR_PATTERN, CLOSING_TAG])
            row["number"] = number + 1
            rows.append(row)
            if screenshot_dir is not None:
                page.screenshot(Path(screenshot_dir) / f"slide-{number + 1:02d}.png")
        fragments = page.evaluate("document.querySelectorAll('.reveal .slides .fragment').length")
        return DeckMeasure(rows, fragments, list(page.exceptions), list(page.console_errors),
                           list(page.failed_requests))


def summarise(deck: DeckMeasure) -> dict:
    """The issue's table: one number (or short text) per measure."""
    rows = deck.slides

    def slides_where(test):
        return [r["number"] for r in rows if test(r)]

    longest = max(rows, key=lambda r: r["code_lines"], default=None)
    code_px = [r["code_px"] for r in rows if r["code_px"] is not None]
    body_px = [r["body_px"] for r in rows if r["body_px"] is not None]
    table_px = [r["table_px"] for r in rows if r["table_px"] is not None]
    last = rows[-1] if rows else {}
    return {
        "slides": len(rows),
        "fragments": deck.fragments,
        "too_tall": slides_where(lambda r: r["content_height"] > r["slide_height"] + 1),
        "too_wide": slides_where(lambda r: r["too_wide"]),
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
        "reprs": slides_where(lambda r: r["reprs"]),
        "broken_images": slides_where(lambda r: r["broken_images"]),
        "images": sum(r["images"] for r in rows),
        "notes": sum(r["notes"] for r in rows),
        "closing": bool(last.get("closing") and last.get("title") and not last.get("code_cells")),
        "last_title": last.get("title", ""),
    }


def problems(summary: dict) -> list[str]:
    """What breaks the thresholds of issue 13's "Done when" ([] for a presentable deck)."""
    found = []
    checks = [
        ("too_tall", "slides taller than the slide"),
        ("too_wide", "slides wider than the slide"),
        ("fragments_off_slides", "slides with fragments off screen"),
        ("untitled", "slides without a heading"),
        ("long_code", f"slides with a code block over {MAX_CODE_LINES} lines"),
        ("small_code", f"slides with code under {MIN_CODE_PX:g} px"),
        ("small_body", f"slides with body text under {MIN_BODY_PX:g} px"),
        ("reprs", "slides showing an image output as a Python repr"),
        ("broken_images", "slides with images that did not load"),
    ]
    for key, what in checks:
        if summary[key]:
            found.append(f"{what}: {summary[key]}")
    if summary["prompts"]:
        found.append(f"In/Out prompts shown: {summary['prompts']}")
    if summary["slides"] and summary["notes"] < MIN_NOTES_SHARE * summary["slides"]:
        found.append(f"speaker notes on {summary['notes']} of {summary['slides']} slides "
                     f"(at least {MIN_NOTES_SHARE:.0%})")
    if not summary["closing"]:
        found.append(f"no closing slide (a titled markdown slide tagged {CLOSING_TAG!r} last); the last "
                     f"slide is {summary['last_title']!r}")
    return found


def format_table(summary: dict) -> str:
    """The measures as the markdown table of issue 13."""
    def listed(numbers):
        return f"{len(numbers)}" + (f" (slides {', '.join(map(str, numbers))})" if numbers else "")

    lines = [
        ("slides", f"{summary['slides']} ({summary['fragments']} fragments)"),
        ("slides taller than the slide (the speaker must scroll)", listed(summary["too_tall"])),
        ("slides wider than the slide (content cut off at the right)", listed(summary["too_wide"])),
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
        ("image outputs shown as a Python repr", listed(summary["reprs"])),
        ("images on slides", str(summary["images"])),
        ("slides with speaker notes", f"{summary['notes']} of {summary['slides']}"),
        ("last slide", f"{summary['last_title']!r}" + (" (closing slide)" if summary["closing"] else
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
        if r["too_wide"]:
            flags.append("wide")
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
        note = "notes" if r["notes"] else "no notes"
        out.append(f"{r['number']:3d} {r['title'][:48]!r:50} [{cells}] {note}; {'; '.join(flags) or 'ok'}")
    return "\n".join(out)
