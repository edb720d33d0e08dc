"""Benchmarks: scripts that print figures (``python -m fer_study.bench {train,predict,detect,generate,failures}``)."""

import platform
from datetime import UTC, datetime

from fer_study.runs import git_commit


def provenance(argv: list[str]) -> str:
    """The line that opens every benchmark output: the code's commit, the time, the host and the command
    as a user types it (``sys.argv[0]`` would be this package's path on the measuring machine)."""
    return (f"commit {git_commit()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; host {platform.node()}; "
            f"command: python -m fer_study.bench {' '.join(argv)}")
