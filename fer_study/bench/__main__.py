"""``python -m fer_study.bench KIND [options]``: print speed figures for one part of the study, after a
line saying which code produced them, so a saved output carries its own provenance."""

import importlib
import platform
import sys
from datetime import UTC, datetime

from fer_study.runs import git_commit

KINDS = {"train": "fer_study.bench.train", "predict": "fer_study.bench.predict",
         "generate": "fer_study.bench.generate"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in KINDS:
        print(f"usage: python -m fer_study.bench {{{','.join(KINDS)}}} [options]", file=sys.stderr)
        return 2
    # The command as a user types it (sys.argv[0] would be this file's path on the measuring machine).
    print(f"commit {git_commit()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; host {platform.node()}; "
          f"command: python -m fer_study.bench {' '.join(argv)}")
    return importlib.import_module(KINDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
