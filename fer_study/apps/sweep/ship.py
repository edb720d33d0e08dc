"""Ship a file larger than one device call can carry, in parts over consecutive calls, checked by sha256.

A lent GPU machine receives the working tree plus named ignored paths, 64 MiB per call, and keeps ignored
folders between calls while it stays warm. FER2013 alone is 58.8 MiB, so the data travels in parts:

- here: ``python -m fer_study.apps.sweep.ship split ../shared/data/fer2013.zip --out data/ship --part-mib 24``
  writes ``data/ship/fer2013.zip.partNN`` and ``data/ship/fer2013.zip.manifest.json`` (sha256 of every part
  and of the whole);
- call k on the device carries ``data/ship/fer2013.zip.partk`` (and the manifest) and nothing else of
  ``data/ship``: the parts of earlier calls are still there;
- the last call runs ``python3 -m fer_study.apps.sweep.ship join data/ship/fer2013.zip.manifest.json --out data/raw``,
  which refuses a missing or altered part (naming it) and writes the file only when its sha256 matches, then
  trains (``make full-tier FER_DATA=data/raw``).
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

from fer_study.core.files import atomic_write

MANIFEST_SUFFIX = ".manifest.json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split(source: Path, out_dir: Path, part_bytes: int) -> Path:
    """Cut ``source`` into parts of at most ``part_bytes`` in ``out_dir``; returns the manifest's path."""
    if part_bytes <= 0:
        raise ValueError(f"part size must be positive, got {part_bytes} bytes")
    data = Path(source).read_bytes()
    out_dir = Path(out_dir)
    parts = []
    for index, start in enumerate(range(0, max(len(data), 1), part_bytes)):
        chunk = data[start:start + part_bytes]
        name = f"{Path(source).name}.part{index:02d}"
        with atomic_write(out_dir / name) as tmp:
            Path(tmp).write_bytes(chunk)
        parts.append({"name": name, "bytes": len(chunk), "sha256": _sha256(chunk)})
    manifest = out_dir / f"{Path(source).name}{MANIFEST_SUFFIX}"
    with atomic_write(manifest) as tmp:
        Path(tmp).write_text(json.dumps({"file": Path(source).name, "bytes": len(data), "sha256": _sha256(data),
                                         "parts": parts}, indent=2) + "\n")
    return manifest


def join(manifest_path: Path, out_dir: Path) -> Path:
    """Reassemble the file a manifest describes from the parts beside it, into ``out_dir``; every part and
    the whole are checked against the manifest first, and nothing is written when one fails."""
    manifest_path = Path(manifest_path)
    try:
        manifest = json.loads(manifest_path.read_text())
        parts = manifest["parts"]
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{manifest_path}: not a ship manifest ({error})") from error
    chunks = []
    for part in parts:
        path = manifest_path.parent / part["name"]
        if not path.is_file():
            raise FileNotFoundError(f"{path}: part {part['name']} of {manifest['file']} has not arrived yet")
        chunk = path.read_bytes()
        if _sha256(chunk) != part["sha256"]:
            raise ValueError(f"{path}: sha256 differs from the manifest's; ship this part again")
        chunks.append(chunk)
    data = b"".join(chunks)
    if _sha256(data) != manifest["sha256"]:
        raise ValueError(f"{manifest_path}: the joined parts do not give {manifest['file']} (sha256 differs)")
    target = Path(out_dir) / manifest["file"]
    with atomic_write(target) as tmp:
        Path(tmp).write_bytes(data)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_study.apps.sweep.ship", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    cut = commands.add_parser("split", help="cut a file into parts with a manifest")
    cut.add_argument("source", type=Path)
    cut.add_argument("--out", type=Path, required=True)
    cut.add_argument("--part-mib", type=float, default=24.0)
    glue = commands.add_parser("join", help="check the parts against the manifest and reassemble the file")
    glue.add_argument("manifest", type=Path)
    glue.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "split":
            print(split(args.source, args.out, int(args.part_mib * 1024 * 1024)))
        else:
            print(join(args.manifest, args.out))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
