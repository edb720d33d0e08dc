"""The package's metadata says what it needs: every third-party module that ``fer_study`` imports belongs to
a distribution that ``pyproject.toml`` declares (a dependency or an extra) or that requirements-nodeps.txt
installs without its own dependencies; each declared lower bound holds for the exact pin of
requirements.txt; and the ``fer-study`` console script is ``python -m fer_study``."""

import ast
import importlib
import sys
import tomllib
from importlib.metadata import packages_distributions

from packaging.requirements import Requirement

from fer_study.core import paths

PYPROJECT = tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())["project"]


def _requirements(path) -> dict[str, Requirement]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {_name(Requirement(line).name): Requirement(line) for line in lines if line}


def _name(distribution: str) -> str:
    return distribution.lower().replace("_", "-")


DECLARED = {_name(Requirement(line).name): Requirement(line)
            for line in [*PYPROJECT["dependencies"], *(line for extra in PYPROJECT["optional-dependencies"].values()
                                                      for line in extra)]}
PINNED = _requirements(paths.REPO_ROOT / "requirements.txt")
NO_DEPS = _requirements(paths.REPO_ROOT / "requirements-nodeps.txt")


def third_party_modules() -> set[str]:
    modules = set()
    for path in (paths.REPO_ROOT / "fer_study").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                     else [])
            modules |= {name.split(".")[0] for name in names}
    return {module for module in modules if module != "fer_study" and module not in sys.stdlib_module_names}


def test_every_imported_distribution_is_declared():
    owners = packages_distributions()
    undeclared = {}
    for module in sorted(third_party_modules()):
        distributions = {_name(name) for name in owners.get(module, [module])}
        if not distributions & (set(DECLARED) | set(NO_DEPS)):
            undeclared[module] = sorted(distributions)
    # A module no distribution provides here is reported under its own name.
    assert not undeclared, f"imported by fer_study but declared nowhere in pyproject.toml: {undeclared}"


def test_declared_lower_bounds_admit_the_pinned_versions():
    for name, requirement in DECLARED.items():
        assert name in PINNED, f"pyproject.toml declares {name}, which requirements.txt does not pin"
        pinned = next(iter(PINNED[name].specifier)).version
        assert requirement.specifier.contains(pinned), f"{name}: pin {pinned} outside {requirement.specifier}"


def test_console_script_is_the_module_entry_point():
    module_name, function = PYPROJECT["scripts"]["fer-study"].split(":")
    assert getattr(importlib.import_module(module_name), function) is importlib.import_module("fer_study.__main__").main
