"""Shared fixtures: isolated cache/data folders and the real-data location."""

import os
from pathlib import Path

import pytest

from fer_study import paths


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
