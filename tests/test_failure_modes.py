"""The model card's failure modes: the committed measurement (``python -m fer_study.bench failures``) is used
only for the weights it measured, and it measures the recognizer's current default."""

import numpy as np
import pytest

from fer_study.apps.recognize import card
from fer_study.apps.recognize.classifier import default_run
from fer_study.core.files import read_commented_csv, write_commented_csv
from fer_study.runs import load_run

CONDITIONS = "condition,faces,accuracy\nas in FER2013 (48x48),3589,0.7\nface 12 px across,3589,0.2\n"


def test_the_committed_measurement_is_of_the_current_default_and_its_weights():
    comments, table = read_commented_csv(card.FAILURES_FILE)
    assert comments[0].endswith("command: python -m fer_study.bench failures --out results/bench/failure_modes_cpu.csv")
    assert comments[1] == card.failure_identity(load_run(default_run())), (
        "the recognizer's default or its weights changed: re-measure with the command on the file's first line")
    assert table["faces"].min() == table["faces"].max() > 3000  # every PrivateTest face, in every condition


def test_a_measurement_of_other_weights_is_not_used(tmp_path):
    run = load_run(default_run())
    measured = tmp_path / "failures.csv"
    measured.write_text(f"# commit abc; command: python -m fer_study.bench failures\n# {card.failure_identity(run)}\n"
                        + CONDITIONS)
    header, table = card.committed_failure_modes(run, measured)
    assert header.startswith("commit abc") and list(table["accuracy"]) == [0.7, 0.2]
    measured.write_text("# commit abc\n# run other_run; weights sha256 0123\n" + CONDITIONS)
    assert card.committed_failure_modes(run, measured) is None
    assert card.committed_failure_modes(run, tmp_path / "missing.csv") is None


def test_a_missing_dataset_leaves_the_failure_modes_unmeasured_but_a_broken_classifier_raises(monkeypatch):
    run = load_run(default_run())
    monkeypatch.setattr(card, "committed_failure_modes", lambda run: None)

    def no_dataset(*args):
        raise FileNotFoundError("fer2013.zip not found")

    monkeypatch.setattr(card, "failure_test_faces", no_dataset)
    text, table = card._failure_section(run, 10, 0)
    assert table is None
    assert text.startswith(f"Unmeasured: the test split of {run.name}'s dataset cannot be loaded (fer2013.zip")

    def broken_classifier(*args, **kwargs):
        raise ValueError("weights do not match the model")

    monkeypatch.setattr(card, "failure_test_faces", lambda *args: (np.zeros((2, 48, 48), np.uint8), np.zeros(2, int)))
    monkeypatch.setattr(card, "load_classifier", broken_classifier)
    with pytest.raises(ValueError, match="weights do not match"):
        card._failure_section(run, 10, 0)


@pytest.mark.parametrize("lines", [["# one"], ["# one", "# two"]])
def test_commented_csv_keeps_its_comment_lines_and_rows(tmp_path, lines):
    path = tmp_path / "table.csv"
    path.write_text("\n".join(lines) + "\n" + CONDITIONS)
    comments, table = read_commented_csv(path)
    assert comments == [line.removeprefix("# ") for line in lines] and len(table) == 2
    write_commented_csv(path, comments, table)  # the writer's output reads back the same
    assert path.read_text() == "\n".join(lines) + "\n" + CONDITIONS
