"""Execute notebooks with a tier's parameter file (jupytext -> papermill) and build the Jupyter Book.

``python -m fer_study.book run 01_dataset --tier cpu`` executes ``notebooks/01_dataset.py`` with
``params/cpu/01_dataset.yaml`` into ``book/executed/01_dataset.ipynb``; ``python -m fer_study.book build``
executes every chapter and renders ``book/_build/html``.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml

from fer_study import paths

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
    """Execute one notebook with its tier parameters (plus ``overrides``); return the executed file."""
    source = paths.NOTEBOOKS_DIR / f"{stem}.py"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such notebook; available: {', '.join(list_notebooks())}")
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


def hide_default_parameters(notebook: nbformat.NotebookNode) -> None:
    """Show the reader the parameters a run used once: papermill's injected cell, not the defaults too."""
    cells = notebook.cells
    if any("injected-parameters" in cell.metadata.get("tags", []) for cell in cells):
        for cell in cells:
            tags = cell.metadata.get("tags", [])
            if "parameters" in tags and "remove-cell" not in tags:
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


if __name__ == "__main__":
    sys.exit(main())
