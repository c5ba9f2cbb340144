"""A small executed notebook with every slide type and tag the slide and summary tools handle.

The tools are tested on it as well as on the real notebook, so a failure says whether the tooling or
the notebook is at fault.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

# (cell type, slide type, tags, source)
CELLS = [
    ("markdown", "slide", ["slide-only", "talk-20"], "# Stand-in talk\n\nA title card, only on the slides."),
    ("code", "skip", [], "import warnings\n\nimport matplotlib.pyplot as plt\nimport pandas as pd"),
    ("markdown", "slide", ["talk-20"], "## 1. Data\n\nThe workflow of the talk:\n\n![workflow](images/stand-in.png)"),
    ("code", "subslide", [], "rows = [('loan', 0.24), ('no loan', 0.76)]\nfor name, share in rows:\n"
                             "    print(f'{name}: {share:.0%}')"),
    ("markdown", "notes", [], "> 🗣 **Speaker notes**\n\nSpeaker note: mention the class imbalance."),
    ("code", "fragment", [], "warnings.warn('noise a talk does not want')\n"
                             "plt.bar(['loan', 'no loan'], [0.24, 0.76])\nplt.title('Share of loans')\n"
                             "plt.show()"),
    ("code", "-", [], "pd.DataFrame({'group': ['a', 'b'], 'rate': [0.31, 0.11]})"),
    ("code", "subslide", ["hide-input"],
     "plt.plot([0, 1, 2], [2, 0, 1])\nplt.title('Only the plot is shown')\nplt.show()"),
    ("code", "subslide", ["hide-input"],
     "import io\nfrom IPython.display import Image\nfrom PIL import Image as Picture\n"
     "frames = [Picture.new('RGB', (60, 40), colour) for colour in ('red', 'blue')]\nbuffer = io.BytesIO()\n"
     "frames[0].save(buffer, format='GIF', save_all=True, append_images=frames[1:], duration=200, loop=0)\n"
     "Image(data=buffer.getvalue(), format='png')  # labelled PNG, as the notebook's LRP GIF"),
    ("code", "subslide", ["appendix"], "for i in range(60):\n    print(f'line {i} of a long output')"),
    ("markdown", "slide", ["closing", "talk-20"], "## 2. The end\n\nThanks."),
    ("code", "skip", [], "done = True"),
]
# Slides of the deck, in the order it shows them: the title, 1. Data, the print, the plot with hidden
# code, the GIF (hidden code), 2. The end (the closing slide); then the appendix: its title slide and the
# long output (tagged appendix).
EXPECTED_SLIDES = 8
TALK_SLIDES, APPENDIX_SLIDES = 6, 2
SHORT_SLIDES = 3  # ?talk=20: the title, 1. Data and the closing slide are tagged talk-20
# Taller than the slide, which the deck checker must say: the print with the bar chart (a default-sized
# figure) and the table below it, and the long output.
TOO_TALL_SLIDES = [3, 8]
UNTITLED_SLIDES = [3, 4, 5, 8]  # code cells opening a slide without a heading


def write_stand_in_image(path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(4, 2), dpi=50)
    ax.plot([0, 1], [0, 1])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def make_stand_in_notebook(directory: Path, execute: bool = True) -> Path:
    """Write (and run) the stand-in notebook and the image its markdown links to under ``directory``."""
    directory = Path(directory)
    write_stand_in_image(directory / "images" / "stand-in.png")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for cell_type, slide_type, tags, source in CELLS:
        new = nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_code_cell
        cell = new(source)
        cell.metadata["slideshow"] = {"slide_type": slide_type}
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    # Stable ids, so that two stand-ins render byte-identically.
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
    if execute:
        client = NotebookClient(nb, timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(directory)}})
        client.execute()
    path = directory / "stand-in.ipynb"
    nbformat.write(nb, path)
    return path
