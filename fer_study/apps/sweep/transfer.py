"""Moving run folders between machines that share no filesystem: a worker returns a run folder's files
as bytes, the driver writes them as one folder that appears whole or not at all, and the run folders of a
device lease travel back packed into a few archives.

A folder is written into a hidden temporary folder beside its destination and renamed into place, so a
reader (``fer_study.runs.list_runs``, a notebook) never sees a half-written run folder; a folder that is
replaced is renamed aside first and removed only after the new one is in place.
"""

import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from fer_study.core.files import atomic_write

# What the device returns: at most 8 files of at most 16 MiB each (../.library/device/README.md).
MAX_ARCHIVES = 8
MAX_ARCHIVE_BYTES = 16 * 2**20
# tar headers and gzip framing on top of the members' compressed sizes
_ARCHIVE_MARGIN = 0.97


def folder_files(folder: Path) -> dict[str, bytes]:
    """The plain files directly inside ``folder``, by name (run folders have no subfolders)."""
    return {path.name: path.read_bytes() for path in sorted(Path(folder).iterdir()) if path.is_file()}


def write_folder(destination: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` as the folder ``destination`` (replacing one that is there), whole or not at all."""
    destination = Path(destination)
    for name in files:
        if not name or Path(name).name != name or name in (".", ".."):
            raise ValueError(f"{destination}: refusing file name {name!r} (expected a plain file name)")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".new", dir=destination.parent))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        if destination.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".old",
                                            dir=destination.parent))
            os.replace(destination, retired / destination.name)
            os.replace(staging, destination)
            shutil.rmtree(retired)
        else:
            os.replace(staging, destination)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return destination


def write_file(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless the file already holds exactly it; True if written."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    with atomic_write(path) as tmp:
        Path(tmp).write_bytes(data)
    return True


def pack_folders(folders: list[Path], destination: Path, prefix: str = "runs",
                 max_archives: int = MAX_ARCHIVES, max_bytes: int = MAX_ARCHIVE_BYTES) -> list[Path]:
    """Pack run folders into at most ``max_archives`` ``<prefix>-NN.tar.gz`` files of at most
    ``max_bytes`` each, in ``destination``; each folder lies whole in one archive.

    Folders are placed first-fit in the order given (the most valuable first), so when they do not all fit,
    the ones left out are the last; a ``ValueError`` names them, after the archives that fit are written.
    """
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    bins: list[list[tuple[Path, bytes]]] = []
    sizes: list[int] = []
    left_out = []
    for folder in folders:
        member = _compressed_folder(Path(folder))
        index = next((i for i, size in enumerate(sizes) if size + len(member) <= max_bytes * _ARCHIVE_MARGIN),
                     None)
        if index is None and len(bins) < max_archives and len(member) <= max_bytes * _ARCHIVE_MARGIN:
            bins.append([])
            sizes.append(0)
            index = len(bins) - 1
        if index is None:
            left_out.append(Path(folder).name)
            continue
        bins[index].append((Path(folder), member))
        sizes[index] += len(member)
    archives = []
    for number, members in enumerate(bins, start=1):
        archive = destination / f"{prefix}-{number:02d}.tar.gz"
        with atomic_write(archive) as tmp, tarfile.open(tmp, "w:gz") as tar:
            for folder, _ in members:
                tar.add(folder, arcname=folder.name)
        if archive.stat().st_size > max_bytes:
            raise ValueError(f"{archive}: {archive.stat().st_size} bytes, over the {max_bytes} allowed")
        archives.append(archive)
    if left_out:
        raise ValueError(f"run folders {left_out} do not fit in {max_archives} archives of {max_bytes} bytes; "
                         f"packed the others into {[a.name for a in archives]}")
    return archives


def unpack_folders(archives: list[Path], destination: Path) -> list[Path]:
    """Write every run folder in the archives that ``pack_folders`` made into ``destination``, each whole."""
    written = []
    for archive in archives:
        folders: dict[str, dict[str, bytes]] = {}
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                if member.isdir():
                    continue
                parts = Path(member.name).parts
                if not member.isfile() or len(parts) != 2 or ".." in parts:
                    raise ValueError(f"{archive}: unexpected member {member.name!r} (expected <run>/<file>)")
                folders.setdefault(parts[0], {})[parts[1]] = tar.extractfile(member).read()
        written += [write_folder(Path(destination) / name, files) for name, files in folders.items()]
    return written


def _compressed_folder(folder: Path) -> bytes:
    """The folder as a gzip-compressed tar, to learn how much room it takes in an archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return buffer.getvalue()
