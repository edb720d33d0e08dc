"""Execute notebooks with a tier's parameter file (jupytext -> papermill) and build the Jupyter Book.

``python -m fer_study.book run 01_dataset --tier cpu`` executes ``notebooks/01_dataset.py`` with
``params/cpu/01_dataset.yaml`` into ``book/executed/01_dataset.ipynb``; ``python -m fer_study.book build``
executes every chapter and renders ``book/_build/html``.
"""

import argparse
import ast
import importlib
import inspect
import subprocess
import sys
import time
import types
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml

from fer_study.core import paths

TIERS = ("full", "cpu", "smoke")


def list_notebooks() -> list[str]:
    return sorted(p.stem for p in paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))


def load_parameters(stem: str, tier: str) -> dict:
    if tier not in TIERS:
        raise ValueError(f"tier {tier!r} unknown; expected one of {TIERS}")
    path = paths.PARAMS_DIR / tier / f"{stem}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {tier} parameters for notebook {stem}")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of notebook parameters")
    return values


def run_notebook(stem: str, tier: str = "cpu", output_dir: Path | None = None, **overrides) -> Path:
    """Execute one notebook with its tier parameters (plus ``overrides``); return the executed file. A
    notebook with a cell whose table, figure or text Jupyter would drop (``lost_outputs``) is refused."""
    source = paths.NOTEBOOKS_DIR / f"{stem}.py"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such notebook; available: {', '.join(list_notebooks())}")
    lost = lost_outputs(jupytext.read(source))
    if lost:
        raise ValueError(f"{source}: output that would never reach the page (show it with tables.show "
                         f"or display(...), or make it the cell's last expression):\n" + "\n".join(lost))
    output_dir = Path(output_dir or paths.EXECUTED_DIR)
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / f"{stem}.ipynb"
    executed = papermill.execute_notebook(jupytext.read(source), str(output),
                                          parameters={**load_parameters(stem, tier), **overrides},
                                          kernel_name="python3", language="python",
                                          cwd=str(paths.NOTEBOOKS_DIR), progress_bar=False)
    hide_default_parameters(executed)
    nbformat.write(executed, output)
    return output


# What Jupyter shows when a value is a cell's last expression, and drops anywhere else.
_DISPLAY_METHODS = ("_repr_html_", "_repr_markdown_", "_repr_png_", "_repr_svg_", "_repr_latex_", "_ipython_display_")


def _shows_something(kind) -> bool:
    """Whether a value of type ``kind`` (a class, a union, or an annotation string) has a rich display."""
    if isinstance(kind, str):
        return any(name in kind for name in ("Figure", "Markdown", "HTML", "FittedTable", "DataFrame", "Styler"))
    if isinstance(kind, types.UnionType):
        return any(_shows_something(member) for member in kind.__args__)
    return isinstance(kind, type) and any(hasattr(kind, method) for method in _DISPLAY_METHODS)


def _resolve(node: ast.expr, namespace: dict):
    """The object an attribute chain such as ``plots.plot_gains`` names in ``namespace``, else ``None``."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, namespace)
        return getattr(owner, node.attr, None) if isinstance(owner, types.ModuleType | type) else None
    return None


def _dropped_value(node: ast.expr, namespace: dict) -> str | None:
    """Why the value of expression ``node`` would be displayed if it were a cell's last expression (so is
    lost elsewhere): a bare name, a displayable class built, or a call whose return annotation displays;
    ``None`` for a call that returns nothing or that cannot be resolved from the notebook's imports. A
    function of this library without a return annotation is reported too, since it cannot be checked."""
    if isinstance(node, ast.Name | ast.Attribute | ast.Subscript):
        return "a value"
    if not isinstance(node, ast.Call):
        return None
    callee = _resolve(node.func, namespace)
    if isinstance(callee, type):
        return f"a {callee.__name__}" if _shows_something(callee) else None
    # pyplot's figures are shown by the inline backend at the end of the cell, wherever they were made.
    if not callable(callee) or getattr(callee, "__module__", "") == "matplotlib.pyplot":
        return None
    try:
        returned = inspect.signature(callee).return_annotation
    except (TypeError, ValueError):
        return None
    if returned is inspect.Signature.empty:
        library = getattr(callee, "__module__", "") or ""
        return f"the unannotated {library}.{callee.__name__}" if library.startswith("fer_study") else None
    return f"what {ast.unparse(node.func)} returns" if _shows_something(returned) else None


def lost_outputs(notebook: nbformat.NotebookNode) -> list[str]:
    """One line per expression in a code cell whose table, figure or text Jupyter would never show: one
    that is not the cell's last statement, one inside a block (``for``, ``if``, ``with``), or a last one
    silenced by a trailing semicolon. Callees are resolved through the notebook's own imports and the objects
    it builds from imported classes."""
    namespace: dict = {}
    for cell in notebook.cells:
        if cell.cell_type == "code":
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        module = importlib.import_module(alias.name)
                        namespace[alias.asname or alias.name.split(".")[0]] = (
                            module if alias.asname else importlib.import_module(alias.name.split(".")[0]))
                elif isinstance(node, ast.ImportFrom) and node.module:
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        value = getattr(module, alias.name, None)
                        if value is None:
                            value = importlib.import_module(f"{node.module}.{alias.name}")
                        namespace[alias.asname or alias.name] = value
                elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                    # ``chapter = PaperChapter(...)``: the name stands for its class, so that the methods
                    # called on it (``chapter.comparison()``) are checked like functions.
                    built = _resolve(node.value.func, namespace)
                    if isinstance(built, type):
                        namespace.update({target.id: built for target in node.targets if isinstance(target, ast.Name)})
    lost = []
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        body = ast.parse(cell.source).body
        silenced = cell.source.rstrip().endswith(";")
        for index, statement in enumerate(body):
            last = index == len(body) - 1
            nested = [node for node in ast.walk(statement) if isinstance(node, ast.Expr) and node is not statement]
            candidates = [*nested, *([statement] if isinstance(statement, ast.Expr) and (not last or silenced)
                                     else [])]
            for expression in candidates:
                why = _dropped_value(expression.value, namespace)
                if why:
                    lost.append(f"cell {number}, line {expression.lineno}: {why} is dropped: "
                                f"{ast.unparse(expression)[:90]}")
    return lost


def hide_default_parameters(notebook: nbformat.NotebookNode) -> None:
    """Keep the parameters a run used once and folded away: papermill's injected cell (or, without one, the
    defaults) collapsed behind a toggle (``hide-cell``), the defaults removed when overridden."""
    cells = notebook.cells
    injected = any("injected-parameters" in cell.metadata.get("tags", []) for cell in cells)
    for cell in cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags or ("parameters" in tags and not injected):
            cell.metadata["tags"] = [tag for tag in tags if tag not in ("hide-input", "remove-cell")] + ["hide-cell"]
        elif "parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]


def build_book(tier: str = "cpu", execute: bool = True) -> Path:
    if execute:
        for stem in list_notebooks():
            print(f"executing {stem} ({tier})", end="", flush=True)
            started = time.perf_counter()
            run_notebook(stem, tier)
            print(f": {time.perf_counter() - started:.0f} s", flush=True)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jupyter_book), "build", str(paths.BOOK_DIR), "-W", "-n", "--keep-going"], check=True)
    return paths.BOOK_DIR / "_build" / "html" / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_study.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute one notebook")
    run.add_argument("notebook", help=f"one of: {', '.join(list_notebooks())}")
    run.add_argument("--tier", choices=TIERS, default="cpu")
    build = commands.add_parser("build", help="execute every notebook, then render the book")
    build.add_argument("--tier", choices=TIERS, default="cpu")
    build.add_argument("--no-execute", action="store_true", help="render the executed notebooks as they are")
    args = parser.parse_args(argv)
    if args.command == "run":
        print(run_notebook(args.notebook, args.tier))
    else:
        print(build_book(args.tier, execute=not args.no_execute))
    return 0

