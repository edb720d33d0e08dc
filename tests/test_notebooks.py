"""Every notebook runs end to end with its smoke parameters; paired files stay in sync; notebooks stay thin."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

from fer_study.book import build as book
from fer_study.book.build import TIERS, list_notebooks, load_parameters
from fer_study.core import paths

NOTEBOOKS = list_notebooks()


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_paired_ipynb_matches_the_py_file(stem):
    source = jupytext.read(paths.NOTEBOOKS_DIR / f"{stem}.py")
    paired = jupytext.read(paths.NOTEBOOKS_DIR / f"{stem}.ipynb")
    assert [c.source for c in source.cells] == [c.source for c in paired.cells], \
        f"{stem}.ipynb drifted from {stem}.py: run `make sync`"
    stored = json.loads((paths.NOTEBOOKS_DIR / f"{stem}.ipynb").read_text())
    assert all(not cell.get("outputs") for cell in stored["cells"]), f"{stem}.ipynb is committed with outputs"


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_shape(stem):
    notebook = jupytext.read(paths.NOTEBOOKS_DIR / f"{stem}.py")
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "first cell must be a # Title"
    parameter_cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameter_cells) == 1, "exactly one parameters cell"
    names = {target.id for node in ast.parse(parameter_cells[0].source).body if isinstance(node, ast.Assign)
             for target in node.targets}
    for tier in TIERS:
        unknown = set(load_parameters(stem, tier)) - names
        assert not unknown, f"params/{tier}/{stem}.yaml sets {unknown}, not in the parameters cell"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            defined = [n for n in ast.walk(ast.parse(cell.source))
                       if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)]
            assert not defined, f"{stem} defines {defined[0].name}: notebooks call the library, they define nothing"


def literal_defaults(stem: str) -> dict:
    """The parameters cell's names with a literal value (an expression is left out)."""
    notebook = jupytext.read(paths.NOTEBOOKS_DIR / f"{stem}.py")
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    defaults = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                defaults[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:  # an expression, not a literal: any value given for it counts as an override
                continue
    return defaults


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_params_files_hold_only_overrides(stem):
    """A params file sets only what differs from the notebook's parameters cell (ploomber/papermill habit)."""
    defaults = literal_defaults(stem)
    for tier in TIERS:
        repeated = sorted(key for key, value in load_parameters(stem, tier).items()
                          if key in defaults and defaults[key] == value)
        assert not repeated, f"params/{tier}/{stem}.yaml repeats the notebook's defaults of {repeated}"


# Parameters that must be one value in every chapter of a tier: a research question answered in two chapters
# (chapters 2 and 8, say) must show the same interval, and the bootstrap draws depend on both.
SHARED_PARAMETERS = ("bootstrap_samples", "seed")


@pytest.mark.parametrize("tier", TIERS)
def test_shared_parameters_have_one_value_per_tier(tier):
    defaults = {stem: literal_defaults(stem) for stem in NOTEBOOKS}
    for name in SHARED_PARAMETERS:
        values = {stem: {**defaults[stem], **load_parameters(stem, tier)}[name] for stem in NOTEBOOKS
                  if name in defaults[stem]}
        assert len(values) > 1, f"{name}: fewer than two chapters use it; drop it from SHARED_PARAMETERS"
        assert len(set(values.values())) == 1, f"{tier} tier: {name} differs between chapters: {values}"


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_no_cell_loses_a_table_figure_or_text(stem):
    """Jupyter shows only a cell's last expression: a table made before a ``glue(...)`` never reached the page."""
    assert book.lost_outputs(jupytext.read(paths.NOTEBOOKS_DIR / f"{stem}.py")) == []


LOSSY_CELLS = """# %%
import pandas as pd
from myst_nb import glue

from fer_study.book import plots, tables
# %%
tables.table(pd.DataFrame({"a": [1]}))
glue("kept", 1, display=False)
# %%
for title in ("a", "b"):
    plots.message_figure(title)
# %%
plots.message_figure("silenced");
# %%
tables.show(pd.DataFrame({"a": [1]}))
glue("shown", 2, display=False)
# %%
from fer_study.book.paper_chapter import PaperChapter
chapter = PaperChapter("A", "a", claim_prefixes=("a",), models=())
chapter.comparison()
glue("after", 3, display=False)
# %%
plots.message_figure("the last expression")
"""


def test_the_lost_output_check_finds_an_injected_lost_table(tmp_path, monkeypatch):
    lost = book.lost_outputs(jupytext.reads(LOSSY_CELLS, fmt="py:percent"))
    assert [line.split(":")[0] for line in lost] == ["cell 1, line 1", "cell 2, line 2", "cell 3, line 1",
                                                     "cell 5, line 3"]
    assert "tables.table" in lost[0] and "plots.message_figure" in lost[1] and "chapter.comparison" in lost[3]
    (tmp_path / "99_lossy.py").write_text(LOSSY_CELLS)
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", tmp_path)
    with pytest.raises(ValueError, match="99_lossy.py: output that would never reach the page"):
        book.run_notebook("99_lossy", "smoke", output_dir=tmp_path / "executed")
    assert not (tmp_path / "executed" / "99_lossy.ipynb").exists()


def test_book_table_of_contents_lists_every_notebook():
    toc = (paths.BOOK_DIR / "_toc.yml").read_text()
    assert [stem for stem in NOTEBOOKS if f"executed/{stem}" not in toc] == []


def _execute(stem: str, root: Path) -> Path:
    executed = root / "executed" / f"{stem}.ipynb"
    return executed if executed.exists() else book.run_notebook(stem, "smoke", output_dir=root / "executed")


@pytest.mark.notebook
@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_executes_with_smoke_parameters(stem, smoke_book):
    cells = json.loads(_execute(stem, smoke_book).read_text())["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    shown_parameters = [c for c in cells if {"parameters", "injected-parameters"} & set(c["metadata"].get("tags", []))
                        and "remove-cell" not in c["metadata"].get("tags", [])]
    assert len(shown_parameters) == 1, "the book keeps the parameters a run used once"
    assert "hide-cell" in shown_parameters[0]["metadata"]["tags"], "parameters are folded away from the reader"


def build_smoke_book(smoke_book: Path) -> Path:
    """Execute every chapter with smoke parameters into ``smoke_book`` and render it (warnings are errors);
    returns the HTML folder."""
    for stem in NOTEBOOKS:
        _execute(stem, smoke_book)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jupyter_book), "build", str(smoke_book), "-W", "-n", "--keep-going"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return smoke_book / "_build" / "html"


@pytest.mark.notebook
def test_book_renders_the_chapters_and_the_results_table(smoke_book):
    html = build_smoke_book(smoke_book)
    assert (html / "index.html").is_file()
    results = (html / "executed" / "07_results.html").read_text()
    assert "claimed" in results and "reproduced" in results and "<table" in results
    dataset = (html / "executed" / "01_dataset.html").read_text()
    assert "21796" in dataset and "5240" in dataset
