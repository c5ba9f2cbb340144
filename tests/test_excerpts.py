"""The slides' excerpts of the wrappers are read from the committed files, between two markers."""

import pytest

from tutorial.excerpts import code_excerpt, excerpt_lines

MODEL = "pipeline/pipeline_steps/loanclassifier/Model.py"


def test_excerpt_is_the_lines_between_the_markers(tmp_path, monkeypatch):
    monkeypatch.setattr("tutorial.excerpts.ROOT", tmp_path)
    (tmp_path / "m.py").write_text("import x\n\nclass A:\n    def f(self):\n        return 1\n\n    def g(self):\n"
                                   "        return 2\n\n    def h(self):\n        pass\n")
    assert excerpt_lines("m.py", "class A", "    def h") == [
        "class A:", "    def f(self):", "        return 1", "", "    def g(self):", "        return 2"]
    assert excerpt_lines("m.py", "    def g", "    def h") == ["def g(self):", "    return 2"]  # dedented
    assert excerpt_lines("m.py", "class A", "    def h", skip=("    def f", "    def g")) == [
        "class A:", "    ...", "    def g(self):", "        return 2"]
    assert code_excerpt("m.py", "    def h") == "```python\ndef h(self):\n    pass\n```"


def test_a_missing_marker_or_a_long_excerpt_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr("tutorial.excerpts.ROOT", tmp_path)
    (tmp_path / "m.py").write_text("".join(f"x{i} = {i}\n" for i in range(20)))
    with pytest.raises(ValueError, match="no line starting with 'y'"):
        excerpt_lines("m.py", "y")
    with pytest.raises(ValueError, match="20 lines, more than 15"):
        code_excerpt("m.py", "x0")
    assert code_excerpt("m.py", "x0", max_lines=20).count("\n") == 21


def test_the_wrapper_excerpt_shows_seldons_contract():
    shown = code_excerpt(MODEL, "class Model", "    def class_names", skip=("    def __init__", "    def load"))
    lines = shown.splitlines()[1:-1]
    assert lines[0] == "class Model:" and len(lines) <= 15
    assert "    def load(self):  # once per worker, before it serves" in lines
    assert any(line.startswith("    def predict_raw(self, message)") for line in lines)
