"""What a reader sees instead of a run's folder name: each recipe's plain title (``titles.yaml``), then the
run's seed or snapshot epoch. Tables and texts of the analysis and book layers name runs through
``run_title``; the folder name stays the run's identifier in files and on the command line."""

import functools
import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from fer_study.runs.folder import recipe_and_seed

TITLES_FILE = Path(__file__).with_name("titles.yaml")
_SNAPSHOT_RUN = re.compile(r"^(?P<source>.+)_snap(?P<epoch>\d+)$")


@functools.cache
def run_titles() -> dict[str, str]:
    """Recipe -> its plain title."""
    return yaml.safe_load(TITLES_FILE.read_text())


def run_title(name: str) -> str:
    """The plain title of run ``name`` (``vgg_cpu_long_seed1`` -> "VGG-CPU, 40 epochs, seed 1"). A name whose
    recipe has no title stays as it is; tests/test_runs.py keeps every committed run titled."""
    snapshot = _SNAPSHOT_RUN.match(name)
    recipe, seed = recipe_and_seed(snapshot["source"] if snapshot else name)
    if recipe not in run_titles():
        return name
    return (run_titles()[recipe] + (f", seed {seed}" if seed is not None else "")
            + (f", snapshot of epoch {int(snapshot['epoch'])}" if snapshot else ""))


def run_titles_text(names: str | Iterable[str], separator: str = "; ") -> str:
    """Several runs (an iterable of names, or names joined by ", ") as their titles, joined by ``separator``
    (titles hold commas; inside text already split by "; ", give another separator)."""
    names = names.split(", ") if isinstance(names, str) else names
    return separator.join(run_title(name) for name in names if name)
