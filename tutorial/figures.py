"""Saving every figure of the notebook under images/ with one helper."""

from __future__ import annotations

import io
import os
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

# Tests that run the notebook point this elsewhere, so a fast run never overwrites the real figures.
IMAGES_DIR = Path(os.environ.get("TUTORIAL_IMAGES_DIR", Path(__file__).resolve().parent.parent / "images"))

# Figures drawn for a slide: the deck shows a figure at its pixel size when it fits the slide, so at
# 100 dpi a 16 pt font is about 22 screen px, readable from the back of a room; the smallest text (ticks,
# legends) stays at 14 pt. Wide and low, so that a heading and a line fit above.
SLIDE_STYLE = {
    "figure.figsize": (11.0, 4.0),
    "figure.dpi": 100,
    "font.size": 16,
    "axes.titlesize": 18,
    "axes.labelsize": 16,
    "xtick.labelsize": 14,
    "ytick.labelsize": 14,
    "legend.fontsize": 14,
}


MIN_TEXT_PT = 14.0  # the smallest text a figure may draw (at its own dpi), as on the rest of the slides

# One colour per gender in every chart (Okabe-Ito vermilion and blue: told apart with colour-blindness).
GENDER_COLOURS = {"Female": "#D55E00", "Male": "#0072B2"}
GENDER_NAMES = {"Female": "women", "Male": "men"}

# The PNG text chunk in which every saved or shown figure records the size of the smallest text it draws,
# in pixels of that PNG (talk/measure.py reads it back from the deck's images).
TEXT_RECORD_KEY = "Smallest text px"


def drawn_texts(fig) -> list[Text]:
    """The texts ``fig`` draws: every visible text artist with something to show (ticks, labels, legends,
    annotations, titles), whatever set its size (style, ``fontsize=`` or ``tick_params``). The figure is
    laid out first: tick labels get their text when drawn."""
    fig.draw_without_rendering()
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def smallest_text_pt(fig) -> float | None:
    """Font size in points of the smallest text ``fig`` draws (None: no text)."""
    sizes = [t.get_fontsize() for t in drawn_texts(fig)]
    return min(sizes) if sizes else None


def text_record(fig, dpi: float | None = None) -> dict[str, str]:
    """PNG metadata recording the smallest drawn text of ``fig`` in pixels at ``dpi`` (default: the figure's)."""
    pt = smallest_text_pt(fig)
    return {} if pt is None else {TEXT_RECORD_KEY: f"{pt * (dpi or fig.dpi) / 72:.2f}"}


def recorded_text_px(png: bytes) -> float | None:
    """The smallest text size a PNG written by this module records (None: not recorded)."""
    value = Image.open(io.BytesIO(png)).info.get(TEXT_RECORD_KEY)
    return float(value) if value is not None else None


def inline_png(fig) -> str | None:
    """IPython's PNG of a figure (base64), with the record of its smallest drawn text."""
    from IPython.core.pylabtools import print_figure

    return print_figure(fig, "png", base64=True, metadata=text_record(fig))


def use_slide_style() -> None:
    """Draw every figure of the notebook for the slide (set once, in the notebook's setup cell).

    Set globally rather than per figure: a ``plt.rc_context`` around a plot leaves IPython's inline backend
    no longer showing the figures of later cells (tests/test_helpers.py has the case). In a kernel, the PNG
    each figure is shown as records its smallest drawn text (IPython's formatter for matplotlib figures).
    """
    plt.rcParams.update(SLIDE_STYLE)
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        # The inline backend registers its own PNG formatter when it is loaded (at the first figure):
        # load it now, so that this one is the last registered.
        plt.switch_backend(plt.get_backend())
        shell.display_formatter.formatters["image/png"].for_type(Figure, inline_png)


# The largest figure a slide shows at its own size (px at 100 dpi): the slide's width, and what is left
# under a heading and a few lines of code. Bigger figures are redrawn smaller (fit_to_slide), never scaled
# down by the deck, which would shrink their 14 pt text under 14 pt.
SLIDE_FIGURE_PX = (1200, 400)


def fit_to_slide(fig, max_px: tuple[int, int] = SLIDE_FIGURE_PX) -> float:
    """Shrink ``fig`` (inches, not fonts) until its tight bounding box fits ``max_px``; returns the factor.

    Libraries (xai) choose their own figure sizes; the text keeps its size, the axes get smaller.
    """
    total = 1.0
    for _ in range(4):  # text does not shrink with the figure, so the box shrinks less: a few passes
        box = fig.get_tightbbox(fig.canvas.get_renderer())
        factor = min(1.0, max_px[0] / (box.width * fig.dpi), max_px[1] / (box.height * fig.dpi))
        if factor >= 0.995:
            break
        fig.set_size_inches(fig.get_size_inches() * factor * 0.99)
        try:
            fig.tight_layout()
        except (ValueError, RuntimeError):
            pass  # a layout tight_layout cannot handle keeps its own
        total *= factor * 0.99
    return total


def save_fig(name: str, fig=None, images_dir: Path | str = IMAGES_DIR, dpi: int = 100) -> Path:
    """Save ``fig`` (default: the current figure) as images/<name>.png and return the path."""
    fig = fig if fig is not None else plt.gcf()
    path = Path(images_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata=text_record(fig, dpi))
    return path


@contextmanager
def figure_saved_as(name: str, images_dir: Path | str = IMAGES_DIR):
    """Save the figure drawn inside the block as images/<name>.png.

    xai's plots call ``plt.show()`` themselves, which closes the figure in a notebook before a
    later ``save_fig`` could see it; so the figure is saved at the moment it is shown.
    """
    original_show = plt.show
    shown = []

    def save_then_show(*args, **kwargs):
        fit_to_slide(plt.gcf())
        suffix = f"-{len(shown) + 1}" if shown else ""
        shown.append(save_fig(f"{name}{suffix}", plt.gcf(), images_dir))
        return original_show(*args, **kwargs)

    plt.show = save_then_show
    try:
        yield shown
    finally:
        plt.show = original_show
    if not shown and plt.get_fignums():
        fit_to_slide(plt.gcf())
        shown.append(save_fig(name, plt.gcf(), images_dir))
        original_show()  # as a library's own plt.show() would (xai.metrics_plot leaves its figure open)


def live_training_plot(name: str):
    """livelossplot's Keras callback, also saving its last figure as images/<name>.png."""
    from IPython.display import clear_output
    from livelossplot import PlotLossesKeras
    from livelossplot.outputs import MatplotlibPlot

    def after_plots(fig):
        # livelossplot's own ending (tight layout, clear, show) plus our save.
        fig.tight_layout()
        save_fig(name, fig)
        clear_output(wait=True)
        plt.show()

    # The figure only (livelossplot's printed extrema would push it off a 1280x720 slide), wide and low.
    callback = PlotLossesKeras(outputs=[MatplotlibPlot(after_plots=after_plots, figsize=(11.0, 3.6))])
    draw = callback.on_epoch_end

    def on_epoch_end(epoch, logs=None):
        with plt.rc_context(SLIDE_STYLE):  # the slide's dpi and font sizes, as figure_saved_as gives
            draw(epoch, logs)

    callback.on_epoch_end = on_epoch_end
    return callback
