"""Writing files so that a failure never leaves a partial file or damages the one already there."""

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


@contextmanager
def atomic_write(path: Path) -> Iterator[str]:
    """Yield a temporary file name beside ``path``; rename it to ``path`` only when the block succeeds.

    A failure at any point leaves an existing file at ``path`` untouched and no partial file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        yield tmp_name
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_commented_csv(path: Path, comments: list[str], table: pd.DataFrame) -> None:
    """``table`` as CSV under ``comments`` as ``#`` lines (``read_commented_csv`` reads it back), written
    whole before it replaces ``path`` (``atomic_write``): an interrupted run leaves the committed file intact."""
    with atomic_write(path) as partial, open(partial, "w") as file:
        file.writelines(f"# {line}\n" for line in comments)
        table.to_csv(file, index=False)


def read_commented_csv(path: Path) -> tuple[list[str], pd.DataFrame]:
    """A CSV under its ``#`` lines (a measurement's provenance): those lines without the ``#``, and the rows."""
    with open(path) as file:
        comments = []
        while (line := file.readline()).startswith("#"):
            comments.append(line.removeprefix("#").strip())
        file.seek(0)
        return comments, pd.read_csv(file, comment=None, skiprows=len(comments))
