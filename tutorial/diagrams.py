"""Our own diagrams for the talk, drawn with matplotlib: ``make diagrams`` writes them to images/.

- images/workflow.png: where explainability and bias checks fit (data analysis -> model evaluation ->
  production monitoring);
- images/explainer-deployment.png: the explainer deployment pattern (client -> ingress -> explainer
  service -> model service, the model service also answering predictions directly).

Each figure has a fixed pixel size (no tight bounding box), so the files only change when the drawing
does. In the notebook: ``draw_workflow()`` returns the figure, which Jupyter shows.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

if __name__ == "__main__":
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

IMAGES_DIR = Path(__file__).resolve().parent.parent / "images"
DPI = 100
WORKFLOW_SIZE = (12.0, 4.4)  # inches; 1200 x 440 px at DPI: shown at about that size on a slide
DEPLOYMENT_SIZE = (12.0, 5.4)  # 1200 x 540 px

BLUE, ORANGE, GREEN, GREY = "#dbe9f6", "#fde3c8", "#dcefd8", "#eeeeee"
EDGE, TEXT = "#3b4a5a", "#1d232a"


def _box(ax, x, y, w, h, title, detail="", color=BLUE):
    """A rounded box centred on (x, y) in axis units (0..1 wide, 0..1 high) with a title and details."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.01,rounding_size=0.02",
                                facecolor=color, edgecolor=EDGE, linewidth=1.5))
    if detail:
        ax.text(x, y + h * 0.22, title, ha="center", va="center", fontsize=16, weight="bold", color=TEXT)
        ax.text(x, y - h * 0.14, detail, ha="center", va="center", fontsize=14, color=TEXT, linespacing=1.4)
    else:
        ax.text(x, y, title, ha="center", va="center", fontsize=16, weight="bold", color=TEXT)


def _arrow(ax, start, end, label="", label_offset=(0.0, 0.035), style="-|>", color=EDGE, dashed=False):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=22, linewidth=2, color=color,
                                 linestyle="--" if dashed else "-", shrinkA=0, shrinkB=0))
    if label:
        x = (start[0] + end[0]) / 2 + label_offset[0]
        y = (start[1] + end[1]) / 2 + label_offset[1]
        ax.text(x, y, label, ha="center", va="center", fontsize=14, color=EDGE, style="italic")


def _canvas(size):
    fig = plt.figure(figsize=size, dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    return fig, ax


def draw_workflow():
    """The notebook's four sections after the story, with the question each asks and the tools used there."""
    fig, ax = _canvas(WORKFLOW_SIZE)
    ax.text(0.5, 0.92, "Explainability and bias across the life of a loan-approval model",
            ha="center", va="center", fontsize=18, color=TEXT)
    xs = (0.118, 0.373, 0.627, 0.882)
    stages = [
        ("1. Data analysis", "Is the data balanced\nacross ethnicity\nand gender?\n(imbalance, samples)", BLUE),
        ("2. Model evaluation", "Why does the model\ndecide so? Is it fair\nto each group?\n(anchors, LRP)", ORANGE),
        ("3. Bias", "How large is the gap,\nand what does\nreducing it cost?\n(fairlearn)", GREY),
        ("4. Production", "Explain each live\ndecision, watch\nthe gap\n(services, Prometheus)", GREEN),
    ]
    width = 0.205
    for x, (title, detail, color) in zip(xs, stages):
        _box(ax, x, 0.5, width, 0.56, title, detail, color)
    edge = width / 2 + 0.012  # the rounded box's pad sticks out of its nominal width
    for left, right in zip(xs, xs[1:]):
        _arrow(ax, (left + edge, 0.5), (right - edge, 0.5))
    # What production teaches goes back to the data: the loop closes.
    _arrow(ax, (xs[-1], 0.13), (xs[0], 0.13), dashed=True)
    ax.text(0.5, 0.06, "findings feed back into the data and the model", ha="center", va="center",
            fontsize=14, color=EDGE, style="italic")
    return fig


def draw_explainer_deployment():
    """Client -> ingress -> explainer service -> model service; predictions go to the model service."""
    fig, ax = _canvas(DEPLOYMENT_SIZE)
    ax.text(0.5, 0.93, "Explainer deployment: the explainer is a client of the model",
            ha="center", va="center", fontsize=18, color=TEXT)
    _box(ax, 0.09, 0.5, 0.14, 0.26, "Client", "loan officer,\napp", GREY)
    _box(ax, 0.30, 0.5, 0.12, 0.5, "Ingress", "routes\nby path", GREY)
    _box(ax, 0.62, 0.71, 0.25, 0.26, "Explainer service", "Anchors (alibi),\nthe model's URL", ORANGE)
    _box(ax, 0.62, 0.26, 0.25, 0.26, "Model service", "RandomForest pipeline\n(scikit-learn)", BLUE)
    _box(ax, 0.91, 0.26, 0.14, 0.22, "Monitoring", "Prometheus,\nper gender", GREEN)

    _arrow(ax, (0.16, 0.53), (0.235, 0.53), "")
    _arrow(ax, (0.235, 0.47), (0.16, 0.47), "")
    ax.text(0.1975, 0.6, "HTTP", ha="center", va="center", fontsize=14, color=EDGE, style="italic")
    _arrow(ax, (0.365, 0.71), (0.495, 0.71), "/seldon/.../\nloanclassifier-\nexplainer", (0.0, 0.085))
    _arrow(ax, (0.365, 0.26), (0.495, 0.26), "/seldon/.../\nloanclassifier", (0.0, 0.06))
    # The explainer asks the model many predictions per explanation (perturbed copies of the input).
    _arrow(ax, (0.62, 0.58), (0.62, 0.39), "many /predict calls\nper explanation", (0.085, 0.0))
    _arrow(ax, (0.745, 0.26), (0.84, 0.26), "", dashed=True)
    ax.text(0.5, 0.05, "Predictions go straight to the model; explanations go to the explainer, which calls "
            "the model.",
            ha="center", va="center", fontsize=14, color=EDGE)
    return fig


DIAGRAMS = {"workflow": (draw_workflow, WORKFLOW_SIZE), "explainer-deployment": (draw_explainer_deployment,
                                                                                   DEPLOYMENT_SIZE)}


def save_diagrams(images_dir: Path | str = IMAGES_DIR) -> list[Path]:
    """Draw every diagram into images_dir/<name>.png at its fixed size; returns the paths."""
    paths = []
    for name, (draw, _size) in DIAGRAMS.items():
        fig = draw()
        path = Path(images_dir) / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)  # no bbox_inches="tight": the size stays what DIAGRAMS says
        plt.close(fig)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in save_diagrams(sys.argv[1] if len(sys.argv) > 1 else IMAGES_DIR):
        print(f"wrote {written}")
