"""``python -m fer_study.bench KIND [options]``: print speed figures for one part of the study, after a
line saying which code produced them, so a saved output carries its own provenance."""

import importlib
import sys

from fer_study.bench import provenance

KINDS = {"train": "fer_study.bench.train", "predict": "fer_study.bench.predict",
         "detect": "fer_study.bench.detect", "generate": "fer_study.bench.generate",
         "failures": "fer_study.bench.failures", "cost": "fer_study.bench.cost"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in KINDS:
        print(f"usage: python -m fer_study.bench {{{','.join(KINDS)}}} [options]", file=sys.stderr)
        return 2
    print(provenance(argv))
    return importlib.import_module(KINDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
