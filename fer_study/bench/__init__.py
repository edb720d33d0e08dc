"""Benchmarks: scripts that print figures
(``python -m fer_study.bench {train,predict,detect,generate,failures,cost}``)."""

import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from fer_study.runs import git_commit


def provenance(argv: list[str]) -> str:
    """The line that opens every benchmark output: the code's commit, the time, the host and the command
    as a user types it (``sys.argv[0]`` would be this package's path on the measuring machine)."""
    return (f"commit {git_commit()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; host {platform.node()}; "
            f"command: python -m fer_study.bench {' '.join(argv)}")


def out_folder_missing(out: Path | None) -> bool:
    """Whether ``--out`` names a file in a folder that does not exist, said on stderr before any measuring."""
    if out is not None and not out.parent.is_dir():
        print(f"--out {out}: its folder does not exist", file=sys.stderr)
        return True
    return False
