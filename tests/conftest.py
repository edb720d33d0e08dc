"""Shared fixtures: isolated cache/data folders, the real-data location and the session's smoke book; slow
tests first; under pytest-xdist (``make test -n 2``), the scheduling that keeps the smoke book's tests on one
worker."""

import os
import shutil
from pathlib import Path

import pytest

from fer_study.core import paths


@pytest.fixture
def isolated_paths(tmp_path, monkeypatch):
    """FER_DATA and FER_CACHE pointing at empty temporary folders."""
    data, cache = tmp_path / "raw", tmp_path / "cache"
    data.mkdir()
    monkeypatch.setenv("FER_DATA", str(data))
    monkeypatch.setenv("FER_CACHE", str(cache))
    return data, cache


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real archives; tests that need them are skipped, with the reason shown, when absent."""
    folder = paths.data_dir()
    if not (folder / "fer2013.zip").is_file():
        pytest.skip(f"real FER2013 archive not found in FER_DATA={folder} "
                    f"(FER_DATA is {'set' if 'FER_DATA' in os.environ else 'unset'})")
    return folder


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory, real_data_dir) -> Path:
    """A copy of the book's configuration that the chapters' smoke runs execute into (tests/test_notebooks.py)
    and the browser check reads (tests/test_notebooks_browser.py). It lives here, defined once: a session
    fixture imported into a second test module is a second fixture, and the book was executed twice."""
    root = tmp_path_factory.mktemp("book")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(paths.BOOK_DIR / name, root / name)
    shutil.copytree(paths.BOOK_DIR / "_static", root / "_static")
    return root


# The chapters execute once into the session's smoke book: the tests reading it must share a worker, or each
# worker builds the book again. (xdist's own ``--dist loadgroup`` does not group under pytest 9: its node-id
# suffix is lost.)
SMOKE_BOOK_TESTS = ("tests/test_notebooks.py::", "tests/test_notebooks_browser.py::")


def pytest_collection_modifyitems(items):
    """Slow tests first, each group in its file order: two workers end together when the long tests start
    early (the suite used to end on a 56 s test on one worker while the other sat idle). Under xdist the
    smoke book, the largest unit of work, still goes first (``--loadscope-reorder``)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class SmokeBookTogether(LoadScopeScheduling):
        """The smoke book's tests as one unit of work; every other test a unit of its own (as ``--dist load``)."""

        def _split_scope(self, nodeid: str) -> str:
            return "smoke book" if nodeid.startswith(SMOKE_BOOK_TESTS) else nodeid

    return SmokeBookTogether(config, log)
