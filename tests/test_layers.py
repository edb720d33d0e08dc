"""The library's layers, kept: every import in ``fer_study/`` (module level and inside functions, and
module names given to ``importlib`` as string literals) is parsed, and the test fails on

- an import of a layer above the importer's own (``LAYERS``, bottom to top);
- an import cycle, between modules or between the top-level units of ``fer_study`` (lazy imports
  included: a cycle hidden inside a function is still a cycle);
- a private name (one leading underscore) imported from another package, in the library or its tests.

Importing ``fer_study.a.b`` runs ``fer_study/a/__init__.py`` first, so for an importer outside ``a`` the
import counts as one of ``fer_study.a`` too; imports within a package do not.
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fer_study.core import paths

PACKAGE = "fer_study"
ROOT = paths.REPO_ROOT / PACKAGE
TESTS = paths.REPO_ROOT / "tests"

# Bottom to top, one folder of ``fer_study/`` per unit: a unit may import its own layer and those below it,
# never one above. The folders are the layers, so ``ls fer_study/`` shows the flow.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundations", {"core"}),
    ("data, models and runs", {"data", "models", "runs"}),
    ("training", {"train"}),
    ("analysis", {"analysis"}),
    ("applications", {"apps"}),
    ("measurement", {"bench"}),
    ("presentation", {"book"}),
    ("entry points", {"__init__", "__main__"}),
]
LAYER_OF = {unit: index for index, (_, units) in enumerate(LAYERS) for unit in units}
# Below its layer but still not to be imported: analysis works from run folders (predictions.npz,
# metrics.json) alone; it builds no model and trains nothing (timing a model is measurement's job).
# Presentation shows what the layers below computed and trains nothing (a chapter that retrains its runs
# calls ``fer_study.train.named_runs`` itself).
NOT_IMPORTED: dict[str, set[str]] = {"analysis": {"models", "train"}, "presentation": {"train"}}
# Modules of a NOT_IMPORTED unit that a layer may import all the same: (layer, module) -> why.
NOT_IMPORTED_EXCEPT: dict[tuple[str, str], str] = {
    ("presentation", "fer_study.train.config"): "a recipe's settings, read to show them (report.recipe_table)",
}
# Presentation builds no model: of the model registry it reads only metadata (list_models, model_info,
# parameter_count on the meta device). The one model it times goes through fer_study.bench.cost.
MODEL_BUILDERS = {"create_model", "load_model"}

# Known exceptions, each with why it stays: (importer, imported) -> reason. Empty means none.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted module name (a submodule when the name imported is one)
    names: tuple[str, ...]  # the names taken from it (empty for ``import x``)
    line: int
    path: Path

    def __str__(self) -> str:
        names = f" ({', '.join(self.names)})" if self.names else ""
        where = self.path.relative_to(paths.REPO_ROOT) if self.path.is_relative_to(paths.REPO_ROOT) else self.path
        return f"{where}:{self.line}: {self.importer} imports {self.target}{names}"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = (root.name, *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}
PACKAGES = {module_name(path) for path in ROOT.rglob("__init__.py")}


def _is_import_module(node: ast.Call) -> bool:
    function = node.func
    return (isinstance(function, ast.Attribute) and function.attr == "import_module") or (
        isinstance(function, ast.Name) and function.id == "import_module")


def imports_of(path: Path, importer: str, modules: dict[str, Path] = MODULES,
               packages: set[str] = PACKAGES) -> Iterator[Import]:
    """Every import of a ``fer_study`` module in ``path``, at any depth of the syntax tree."""
    package = importer if importer in packages else importer.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield Import(importer, alias.name, (), node.lineno, path)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importer's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != PACKAGE:
                continue
            plain = tuple(alias.name for alias in node.names if f"{base}.{alias.name}" not in modules)
            if plain:
                yield Import(importer, base, plain, node.lineno, path)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    yield Import(importer, f"{base}.{alias.name}", (), node.lineno, path)
        elif isinstance(node, ast.Call) and _is_import_module(node) and node.args:
            argument = node.args[0]
            if isinstance(argument, ast.Constant) and argument.value in modules:
                yield Import(importer, argument.value, (), node.lineno, path)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in modules \
                and node.value != PACKAGE:
            # A module named in a table that importlib loads later (``__main__.COMMANDS``, lazy attributes).
            yield Import(importer, node.value, (), node.lineno, path)


LIBRARY_IMPORTS = [item for name, path in MODULES.items() for item in imports_of(path, name)]


def unit_of(module: str) -> str:
    """``fer_study.data.faces`` -> ``data``; the package itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(2, len(parts))]


def _package_of(module: str, packages: set[str] = PACKAGES) -> str:
    return module if module in packages else module.rpartition(".")[0]


def _edges(imports: list[Import], modules: dict[str, Path] = MODULES,
           packages: set[str] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules its imports run: the target, and each package above the target that the
    importer is not inside (its ``__init__`` runs first)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for item in imports:
        if item.target not in modules:
            continue
        graph[item.importer].add(item.target)
        graph[item.importer] |= {package for package in ancestors(item.target)
                                 if not (item.importer + ".").startswith(package + ".")}
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components with more than one node, or one node importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def upward_imports(imports: list[Import]) -> list[str]:
    problems = []
    for item in imports:
        source, target = unit_of(item.importer), unit_of(item.target)
        if (source, target) in ALLOWED or source == target:
            continue
        layer = LAYERS[LAYER_OF[source]][0]
        if LAYER_OF[target] > LAYER_OF[source]:
            problems.append(f"{item}: {layer} imports {LAYERS[LAYER_OF[target]][0]}")
        elif target in NOT_IMPORTED.get(layer, ()) and (layer, item.target) not in NOT_IMPORTED_EXCEPT:
            problems.append(f"{item}: {layer} imports {target}, which it must not")
    return problems


def private_imports(imports: list[Import], packages: set[str] = PACKAGES) -> list[str]:
    """Private names or modules taken from outside the package that holds them."""
    problems = []
    for item in imports:
        owner = _package_of(item.target, packages)
        inside = (_package_of(item.importer, packages) + ".").startswith(owner + ".")
        private_module = next((part for part in item.target.split(".")
                               if part.startswith("_") and not part.startswith("__")), None)
        private_names = [name for name in item.names if name.startswith("_") and not name.startswith("__")]
        if not inside and (private_module or private_names):
            problems.append(f"{item}: private {private_module or ', '.join(private_names)}")
    return problems


def test_every_unit_has_a_layer():
    units = {unit_of(name) for name in MODULES}
    assert units <= set(LAYER_OF), f"units without a layer in LAYERS: {sorted(units - set(LAYER_OF))}"


def test_the_package_holds_only_layer_folders():
    entries = {path.name for path in ROOT.iterdir() if path.name != "__pycache__"}
    expected = {unit for unit in LAYER_OF if not unit.startswith("__")} | {"__init__.py", "__main__.py"}
    assert entries == expected, f"fer_study/ should list only its layer folders: {sorted(entries ^ expected)}"


def test_no_module_imports_a_layer_above_its_own():
    problems = upward_imports(LIBRARY_IMPORTS)
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_no_import_cycle_between_modules():
    cycles = strongly_connected(_edges(LIBRARY_IMPORTS))
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)


def test_no_import_cycle_between_units():
    graph: dict[str, set[str]] = {}
    for item in LIBRARY_IMPORTS:
        source, target = unit_of(item.importer), unit_of(item.target)
        if source != target:
            graph.setdefault(source, set()).add(target)
    cycles = strongly_connected(graph)
    assert not cycles, "cycles between units:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)


def model_builders_named(path: Path) -> list[str]:
    """Where ``path`` names a function that builds a model (``MODEL_BUILDERS``): imported, called or passed."""
    found = []
    where = path.relative_to(paths.REPO_ROOT) if path.is_relative_to(paths.REPO_ROOT) else path
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.ImportFrom)
                 else [node.id] if isinstance(node, ast.Name) else [node.attr] if isinstance(node, ast.Attribute)
                 else [])
        found += [f"{where}:{node.lineno}: {name}" for name in names
                  if name in MODEL_BUILDERS]
    return found


def test_presentation_builds_no_model():
    problems = [problem for name, path in MODULES.items() if unit_of(name) == "book"
                for problem in model_builders_named(path)]
    assert not problems, "presentation builds a model:\n" + "\n".join(problems)


def test_no_private_name_is_imported_across_packages():
    test_imports = [item for path in sorted(TESTS.glob("*.py"))
                    for item in imports_of(path, f"tests.{path.stem}")]
    problems = private_imports(LIBRARY_IMPORTS + test_imports)
    assert not problems, "private imports across packages:\n" + "\n".join(problems)


# The checks themselves can fail: each problem the issue named, as a small fake library.
def fake_library(tmp_path: Path, files: dict[str, str]) -> tuple[list[Import], dict[str, Path], set[str]]:
    root = tmp_path / PACKAGE
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    modules = {**MODULES, **{module_name(path, root): path for path in sorted(root.rglob("*.py"))}}
    packages = PACKAGES | {module_name(path, root) for path in root.rglob("__init__.py")}
    imports = [item for path in sorted(root.rglob("*.py"))
               for item in imports_of(path, module_name(path, root), modules, packages)]
    return imports, modules, packages


def test_the_checks_catch_a_lazy_upward_import_and_the_cycle_it_closes(tmp_path):
    imports, modules, packages = fake_library(tmp_path, {
        "data/__init__.py": "from fer_study.data import variants\n",
        "data/variants.py": "def balance():\n    from fer_study.apps.generate import balance_from_folder\n",
        "data/dataset.py": "",
        "apps/generate.py": "from fer_study.data.dataset import FERDataset\n"})
    assert any("data, models and runs imports applications" in problem for problem in upward_imports(imports))
    cycles = strongly_connected(_edges(imports, modules, packages))
    assert ["fer_study.apps.generate", "fer_study.data", "fer_study.data.variants"] in cycles


def test_the_checks_catch_a_private_name_from_another_package(tmp_path):
    imports, _, packages = fake_library(tmp_path, {
        "models/__init__.py": "", "models/_registry.py": "_MODELS = {}\n", "book/__init__.py": "",
        "book/report.py": "from fer_study.models._registry import _MODELS\n"})
    problems = private_imports(imports, packages)
    assert len(problems) == 1 and "fer_study.book.report imports fer_study.models._registry (_MODELS)" in problems[0]


def test_the_checks_catch_presentation_training_or_building_a_model(tmp_path):
    report = ("from fer_study.train.config import TrainConfig\n"
              "def retrain():\n    from fer_study.train import fit\n"
              "def demo():\n    from fer_study import runs\n    return runs.load_model('pattlite')\n")
    imports, _, _ = fake_library(tmp_path, {"train/__init__.py": "", "train/config.py": "", "runs/__init__.py": "",
                                            "book/__init__.py": "", "book/report.py": report})
    problems = upward_imports(imports)
    assert len(problems) == 1 and "presentation imports train, which it must not" in problems[0]
    assert "(fit)" in problems[0]  # reading a recipe (train.config) is allowed
    assert [problem.rsplit(": ", 1)[1] for problem in model_builders_named(tmp_path / PACKAGE / "book" / "report.py")
            ] == ["load_model"]


def test_the_checks_catch_analysis_building_a_model_to_time_it(tmp_path):
    ensemble = "def cost():\n    from fer_study.models import create_model\n    import fer_study.bench.cost\n"
    imports, _, _ = fake_library(tmp_path, {"models/__init__.py": "", "bench/__init__.py": "", "bench/cost.py": "",
                                            "analysis/__init__.py": "", "analysis/ensemble.py": ensemble})
    problems = upward_imports(imports)
    assert len(problems) == 2
    assert "analysis imports models, which it must not" in problems[0]
    assert "analysis imports measurement" in problems[1]


# A module longer than this does more than one job, unless its docstring says why it is one
# ("kept in one module because ...").
MAX_MODULE_LINES = 420


def test_no_module_is_long_without_a_reason():
    long = [f"{path.relative_to(paths.REPO_ROOT)}: {length} lines"
            for path in MODULES.values() if (length := len(path.read_text().splitlines())) > MAX_MODULE_LINES
            and "kept in one module because" not in (ast.get_docstring(ast.parse(path.read_text())) or "")]
    assert not long, f"modules over {MAX_MODULE_LINES} lines without a reason in their docstring:\n" + "\n".join(long)


@pytest.mark.parametrize(("importer", "statement", "problem"), [
    ("bench/train.py", "from fer_study.book.report import sample_faces", "measurement imports presentation"),
    ("analysis/leaderboard.py", "from fer_study.book import plots", "analysis imports presentation"),
    ("apps/sweep/costs.py", "from fer_study.bench.train import training_flops_per_image",
     "applications imports measurement"),
    ("data/variants.py", "from fer_study.apps.generate import balance_from_folder",
     "data, models and runs imports applications"),
    ("analysis/ensemble.py", "from fer_study.models import create_model", "analysis imports models, which it must not"),
])
def test_the_checks_catch_each_upward_import_the_issue_named(tmp_path, importer, statement, problem):
    files = {"bench/__init__.py": "", "bench/train.py": "", "apps/__init__.py": "", "apps/sweep/__init__.py": "",
             "apps/sweep/costs.py": "", "apps/generate.py": "", "data/__init__.py": "", "data/variants.py": "",
             "models/__init__.py": "", "book/__init__.py": "", "book/report.py": "", "book/plots.py": "",
             "analysis/__init__.py": "", "analysis/leaderboard.py": "", "analysis/ensemble.py": ""}
    imports, _, _ = fake_library(tmp_path, files | {importer: f"def lazy():\n    {statement}\n"})
    problems = upward_imports(imports)
    assert len(problems) == 1 and problem in problems[0]


def fixtures_imported_from_other_test_modules(tests: Path) -> list[str]:
    """``module: name`` for each pytest fixture a test module imports from another one. An imported fixture is
    a second definition, with its own cache: a session fixture imported so ran twice (the smoke book did)."""
    def fixtures(path: Path) -> set[str]:
        return {node.name for node in ast.parse(path.read_text()).body if isinstance(node, ast.FunctionDef)
                and any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)}

    found = []
    for path in sorted(tests.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[-1].startswith("test_"):
                source = tests / f"{node.module.split('.')[-1]}.py"
                shared = fixtures(source) & {alias.name for alias in node.names} if source.is_file() else set()
                found += [f"{path.name}: {name}" for name in sorted(shared)]
    return found


def test_no_test_module_imports_a_fixture_from_another():
    assert fixtures_imported_from_other_test_modules(TESTS) == [], "define shared fixtures in tests/conftest.py"


def test_the_check_catches_an_imported_session_fixture(tmp_path):
    (tmp_path / "test_a.py").write_text("import pytest\n\n@pytest.fixture(scope='session')\ndef book():\n"
                                        "    return 1\n\ndef helper():\n    return 2\n")
    (tmp_path / "test_b.py").write_text("from test_a import book, helper\n")
    assert fixtures_imported_from_other_test_modules(tmp_path) == ["test_b.py: book"]
