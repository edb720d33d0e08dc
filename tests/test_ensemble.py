"""Ensembles from fixture runs whose every accuracy can be counted by hand.

The standard trio (20 images per split, labels ``i % 7``; a wrong prediction is always the next class):
- A (confidence 3): wrong on val 0-2 and test 0-3
- B (confidence 4): wrong on val 3-5 and test 2-5
- C (confidence 5): wrong on val 10-11 and test 10-12
With softmax probabilities 0.770 / 0.901 / 0.961 on the predicted class, two members agreeing always
outvote the third. Test: only images 2 and 3 have two wrong members, so the ensemble gets 18/20. C is
the best member on validation (18/20) and gets 17/20 on test: a gain of 0.05. On validation every image
has at most one wrong member, so the trio scores 20/20 while no pair beats C alone (the more confident
member of a pair always wins it).
"""

import numpy as np
import pytest
from fixture_runs import labels_for, one_hot_logits, write_run, wrong_on

from fer_study.analysis import distillation, ensemble
from fer_study.bench import cost
from fer_study.book import ensemble_tables, tables
from fer_study.core.files import read_commented_csv
from fer_study.models import list_models, registered_for_now
from fer_study.runs import WEIGHTS_NAME, best_on_validation, load_run, load_runs

N = 20
LABELS = labels_for(N)


def _trio(runs_dir):
    write_run(runs_dir, "A", wrong_on(LABELS, [0, 1, 2]), wrong_on(LABELS, [0, 1, 2, 3]),
              val_confidence=3.0, test_confidence=3.0)
    write_run(runs_dir, "B", wrong_on(LABELS, [3, 4, 5]), wrong_on(LABELS, [2, 3, 4, 5]),
              val_confidence=4.0, test_confidence=4.0)
    write_run(runs_dir, "C", wrong_on(LABELS, [10, 11]), wrong_on(LABELS, [10, 11, 12]),
              val_confidence=5.0, test_confidence=5.0)
    return [load_run(name, runs_dir) for name in "ABC"]


def test_mean_softmax_and_vote_match_the_hand_count(tmp_path):
    runs = _trio(tmp_path)
    test = ensemble.probabilities(runs, "test")
    for combiner in ("mean", "vote"):
        scores = ensemble.combine(test, combiner)
        assert (scores.argmax(axis=1) == LABELS).mean() == pytest.approx(18 / 20)
    logits = [run.logits("test") for run in runs]
    np.testing.assert_allclose(ensemble.mean_softmax(logits), ensemble.combine(test, "mean"))


def test_vote_breaks_ties_by_mean_probability():
    # Two members disagree one to one: the more confident one decides.
    probabilities = ensemble.softmax(np.stack([one_hot_logits(np.array([0]), 2.0),
                                               one_hot_logits(np.array([1]), 5.0)]))
    assert ensemble.combine(probabilities, "vote").argmax(axis=1).tolist() == [1]


def test_weighted_mean_gives_a_noise_member_the_least_weight(tmp_path):
    runs = _trio(tmp_path)
    noise = np.random.default_rng(0).integers(0, 7, size=N)
    write_run(tmp_path, "noise", noise, noise)
    runs.append(load_run("noise", tmp_path))
    weights = ensemble.fit_weights(ensemble.probabilities(runs, "val"), LABELS)
    assert weights.sum() == pytest.approx(1.0)
    assert (weights >= 0).all()
    assert weights.argmin() == 3


def test_selection_uses_validation_only(tmp_path):
    runs = _trio(tmp_path)
    # D is perfect on test but wrong on most validation images: test-based selection would pick it alone.
    write_run(tmp_path, "D", wrong_on(LABELS, range(16)), LABELS)
    runs.append(load_run("D", tmp_path))
    assert [run.name for run in ensemble.select_members(runs, "greedy")] == ["C"]
    assert sorted(run.name for run in ensemble.select_members(runs, "exhaustive")) == ["A", "B", "C"]
    result = ensemble.evaluate(ensemble.Ensemble("trio + D", "fer2013", tuple(runs)), bootstrap_samples=0)
    assert result.best_member == "C"


def test_a_run_trained_on_validation_is_never_chosen_on_it(tmp_path):
    runs = _trio(tmp_path)
    # A fine-tuning stage on train + val: perfect on validation because it trained on it.
    write_run(tmp_path, "C_ft", LABELS, wrong_on(LABELS, range(15)), train_splits=["train", "val"])
    runs.append(load_run("C_ft", tmp_path))
    assert [run.name for run in ensemble.evaluation_groups(runs)["fer2013"]] == ["A", "B", "C"]
    ensembles, notes = ensemble.candidate_ensembles(runs)
    assert all("C_ft" not in candidate.member_names for candidate in ensembles)
    assert any("C_ft" in note and "validation split" in note for note in notes)
    assert best_on_validation(runs).name == "C"


def test_greedy_adds_a_member_that_fixes_errors(tmp_path):
    low_on = {"E": [0, 1], "F": [2, 3]}  # each wrong, with low confidence, where the other is right
    for name, wrong in low_on.items():
        confidence = np.full(N, 4.0)
        confidence[wrong] = 1.0
        write_run(tmp_path, name, wrong_on(LABELS, wrong), LABELS, val_confidence=confidence)
    runs = [load_run(name, tmp_path) for name in low_on]
    assert [run.name for run in ensemble.select_members(runs, "greedy")] == ["E", "F"]


def test_gain_is_over_the_validation_best_member_with_intervals(tmp_path):
    runs = _trio(tmp_path)
    result = ensemble.evaluate(ensemble.Ensemble("trio", "fer2013", tuple(runs)), bootstrap_samples=500)
    assert result.test["accuracy"] == pytest.approx(18 / 20)
    assert result.val_accuracy == pytest.approx(1.0)
    assert result.best_member == "C"
    assert result.best_member_test_accuracy == pytest.approx(17 / 20)
    assert result.gain == pytest.approx(0.05)
    low, high = result.accuracy_interval
    assert low <= result.test["accuracy"] <= high
    low, high = result.gain_interval
    assert low <= result.gain <= high


def test_misaligned_runs_raise_naming_both(tmp_path):
    runs = _trio(tmp_path)
    write_run(tmp_path, "shifted", LABELS, LABELS, test_ids=np.array([f"other{i}" for i in range(N)]))
    runs.append(load_run("shifted", tmp_path))
    with pytest.raises(ValueError, match=r"'A' and 'shifted' have different test ids"):
        ensemble.check_aligned(runs)
    groups = ensemble.evaluation_groups(runs)
    assert sorted(len(members) for members in groups.values()) == [1, 3]


def test_a_run_folder_holding_its_ids_aligns_with_one_holding_their_digest(tmp_path):
    runs = _trio(tmp_path)
    write_run(tmp_path, "older", LABELS, LABELS, stored_ids=True)
    older = load_run("older", tmp_path)
    assert older.stores_ids("test") and not runs[0].stores_ids("test")
    ensemble.check_aligned([*runs, older])
    assert sorted(len(members) for members in ensemble.evaluation_groups([*runs, older]).values()) == [4]


def test_candidate_ensembles_and_tta(tmp_path):
    runs = _trio(tmp_path)
    write_run(tmp_path, "T1", LABELS, LABELS, tta={"val": LABELS, "test": LABELS})
    write_run(tmp_path, "T2", LABELS, LABELS, tta={"val": LABELS, "test": wrong_on(LABELS, [0])})
    runs += [load_run("T1", tmp_path), load_run("T2", tmp_path)]
    candidates, notes = ensemble.candidate_ensembles(runs, "exhaustive")
    with_tta = [candidate for candidate in candidates if candidate.tta]
    assert {candidate.name for candidate in with_tta} == {"all runs"}
    assert with_tta[0].member_names == ["T1", "T2"]
    assert any("RMN-style" in note for note in notes)


def test_named_ensembles(tmp_path):
    for name, snapshot_of, epoch in (("base", None, 80), ("base_snap030", "base", 30), ("base_snap040", "base", 40)):
        write_run(tmp_path, name, LABELS, LABELS, model="resemotenet", snapshot_of=snapshot_of,
                  parent=snapshot_of, selected_epoch=epoch)
    write_run(tmp_path, "rmn_seed0", wrong_on(LABELS, [0, 1]), LABELS, model="resmasking_dropout1")
    write_run(tmp_path, "rmn_seed1", wrong_on(LABELS, [0]), LABELS, model="resmasking_dropout1", seed=1)
    write_run(tmp_path, "cbam", LABELS, LABELS, model="cbam_resnet50")
    write_run(tmp_path, "r18", LABELS, LABELS, model="resnet18")
    runs = load_runs(tmp_path)
    named, notes = ensemble.named_ensembles("fer2013", runs)
    members = {candidate.name: candidate.member_names for candidate in named}
    assert members == {"snapshot of base": ["base_snap030", "base_snap040", "base"],
                       "RMN-style": ["rmn_seed1", "cbam", "r18"]}
    assert notes == []
    _, notes = ensemble.named_ensembles("fer2013", [run for run in runs if run.name != "cbam"])
    assert notes == ["fer2013: no RMN-style ensemble: no run of CBAM-ResNet"]


def test_tables_with_cost(tmp_path):
    import torch

    def fixture_linear_model():
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48 * 48, 7))

    write_run(tmp_path, "A", wrong_on(LABELS, [0, 1, 2]), wrong_on(LABELS, [0, 1, 2, 3]),
              model="fixture_linear_model", params=100)
    write_run(tmp_path, "B", wrong_on(LABELS, [3, 4, 5]), wrong_on(LABELS, [2, 3, 4, 5]),
              model="not_registered_model", params=250)
    runs = load_runs(tmp_path)
    with registered_for_now(fixture_linear_model, paper=None, url=None, input_size=48, paper_model=False):
        costs = cost.cost_table(["fixture_linear_model"], repeats=3).set_index("model")["cpu_ms_per_image"]
    members = ensemble_tables.member_table(runs, costs)
    assert members["test_acc_pct"].tolist() == pytest.approx([80.0, 80.0])
    assert members.loc[0, "cpu_ms_per_image"] == costs["fixture_linear_model"] > 0
    assert np.isnan(members.loc[1, "cpu_ms_per_image"])
    assert members.loc[1, "note"] == f"CPU time of not_registered_model not measured: run `{cost.COST_COMMAND}`"
    results, notes = ensemble.evaluate_all(runs, bootstrap_samples=50)
    # Greedy selection keeps both runs, the same ensemble as "all runs": listed once.
    assert "fer2013: greedy selection (val) has the same members as all runs" in notes
    assert set(ensemble_tables.results_table(results)["ensemble"]) == {"all runs"}
    table = ensemble_tables.results_table(results, members)
    assert set(table["params"]) == {350.0}
    recalls = table.filter(like="recall_").to_numpy(dtype=float)
    assert 1 < recalls.max() <= 100  # percent, as every other accuracy of the table
    assert table["cpu_ms_per_image"].isna().all()  # one member's time is unknown, so the total is too
    points = ensemble_tables.cost_points(members, table)
    assert points["kind"].tolist() == ["single model", "single model", "ensemble (mean)"]


def test_the_committed_model_costs_cover_every_registered_model_and_say_where_they_were_measured():
    comments, table = read_commented_csv(cost.COMMITTED)
    assert comments[0].endswith(f"command: {cost.COST_COMMAND}") and "load average" in comments[1]
    assert sorted(table["model"]) == list_models(), (
        f"a model was registered or removed: re-measure with `{cost.COST_COMMAND}`")
    assert (table["cpu_ms_per_image"] > 0).all()
    assert cost.committed_costs().to_dict() == dict(zip(table["model"], table["cpu_ms_per_image"], strict=True))
    assert cost.committed_costs(cost.COMMITTED.with_name("missing.csv")).empty


def test_no_runs_gives_empty_tables(tmp_path):
    runs = load_runs(tmp_path)
    results, notes = ensemble.evaluate_all(runs)
    assert runs == [] and results == [] and notes == [ensemble.NO_RUNS]
    assert ensemble_tables.results_table(results, ensemble_tables.member_table(runs)).empty
    assert ensemble.best_result(results) is None


def test_figures_draw_runs_and_say_when_there_are_none(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from fer_study.book import plots

    runs = _trio(tmp_path)
    results, _ = ensemble.evaluate_all(runs, bootstrap_samples=20)
    members = ensemble_tables.member_table(runs)
    table = ensemble_tables.results_table(results, members)
    counts = pd.DataFrame({"class": ["angry", "happy"] * 2, "count": [3, 5, 2, 4],
                           "split": ["train", "train", "val", "val"]})
    drawn = [plots.plot_history(runs[0].history), plots.plot_confusion(*ensemble.best_confusion(results)),
             plots.plot_gains(table), plots.plot_class_counts(counts),
             plots.plot_accuracy_vs_cost(ensemble_tables.cost_points(members, table)),
             plots.plot_face_grid(np.zeros((3, 48, 48), np.uint8), np.array([0, 1, -1]), per_row=2)]
    # history: loss, accuracy, lr; confusion: heatmap and colour bar; faces: a 2x2 grid
    assert [len(figure.axes) for figure in drawn] == [3, 2, 1, 1, 1, 4]
    no_points = ensemble_tables.cost_points(members.iloc[:0], table.iloc[:0])
    empty = [plots.plot_history(pd.DataFrame()), plots.plot_confusion(None, ensemble.NO_RUNS),
             plots.plot_gains(table.iloc[:0]), plots.plot_accuracy_vs_cost(no_points)]
    assert all(not figure.axes[0].axison for figure in empty)
    assert repr(tables.table(members)).split()[0] == "Run"  # row numbers hidden
    assert repr(tables.table(counts.set_index("split"))).split()[0] == "class"  # a named index shown
    assert "Split" in repr(tables.table(counts.set_index("split")))


def test_selection_among_runs_with_weights_prints_names(tmp_path, capsys):
    runs = _trio(tmp_path)
    assert sorted(run.name for run in ensemble.select_from(runs, "fer2013", "exhaustive")) == ["A", "B", "C"]
    for name in "AB":  # C, the best on validation, has no weights here: it cannot teach
        (tmp_path / name / WEIGHTS_NAME).write_bytes(b"")
    assert ensemble.main(["--runs-dir", str(tmp_path), "--with-weights", "--method", "exhaustive"]) == 0
    out, err = capsys.readouterr()
    assert out.split() == ["A"] and "their mean: validation accuracy 85.00 %" in err
    with pytest.raises(ValueError, match="'ferplus'"):
        ensemble.select_from(runs, "ferplus")


def test_a_student_is_compared_with_its_teachers_and_its_undistilled_twin(tmp_path):
    _trio(tmp_path)  # the teachers: 18/20 on test together
    recipe = {"epochs": 3, "lr": 0.1, "seed": 0}
    distilled = {"distill_from": "t.npz", "distill_temperature": 4.0, "distill_weight": 0.5}
    write_run(tmp_path, "twin", LABELS, wrong_on(LABELS, range(5)), config=recipe)
    write_run(tmp_path, "other_seed", LABELS, LABELS, config=recipe | {"seed": 1})
    write_run(tmp_path, "student", LABELS, wrong_on(LABELS, [0, 1]), config=recipe | distilled,
              teachers=["A", "B", "C"])
    write_run(tmp_path, "orphan", LABELS, LABELS, config=recipe | distilled | {"lr": 0.5}, teachers=["A", "gone"])
    results = distillation.distillation_results(load_runs(tmp_path, None), bootstrap_samples=200)
    table = ensemble_tables.distillation_table(results).set_index("student")
    assert list(table.index) == ["orphan", "student"]
    row = table.loc["student"]
    assert (row["twin"], row["teachers"], row["teachers_test_acc_pct"]) == ("twin", "A, B, C", 90.0)
    assert row["student_test_acc_pct"] == 90.0 and row["twin_test_acc_pct"] == 75.0
    assert row["gain_pp"] == pytest.approx(15.0) and 0 <= row["gain_low"] < 15 < row["gain_high"]
    orphan = table.loc["orphan"]
    assert orphan["twin"] == "" and np.isnan(orphan["gain_pp"]) and orphan["missing_teachers"] == "gone"
    assert np.isnan(orphan["teachers_test_acc_pct"])


def test_each_label_set_gets_its_own_answer_and_cost_axis(tmp_path):
    """A FER+ ensemble scores higher on its easier labels; it must not be ranked against FER2013 ensembles."""
    from fer_study.book import presentation

    for name, dataset, wrong in (("a", "fer2013", [0, 1, 2]), ("b", "fer2013", [3, 4, 5]),
                                 ("c", "ferplus", [0]), ("d", "ferplus", [1])):
        write_run(tmp_path, name, wrong_on(LABELS, wrong), wrong_on(LABELS, wrong), dataset=dataset,
                  test_ids=np.array([f"{dataset}{i}" for i in range(len(LABELS))]))
    runs = load_runs(tmp_path)
    results, _ = ensemble.evaluate_all(runs, bootstrap_samples=20)
    assert {ensemble.label_set(result.ensemble.group) for result in results} == {"FER2013", "FER+"}
    assert ensemble.best_result(results).ensemble.group == "fer2013"
    assert ensemble.best_result(results, ensemble.FERPLUS_LABELS).ensemble.group == "ferplus"
    answer = presentation.ensemble_answer(results).data
    assert answer.index("On FER2013 labels") < answer.index("On FER+ labels")
    members = ensemble_tables.member_table(runs)
    points = ensemble_tables.cost_points(members, ensemble_tables.results_table(results, members))
    assert set(points["label"]) <= {"a", "b", "all runs", "greedy selection (val)"}
    assert ensemble.label_set("ferplus (3)") == "FER+" and ensemble.label_set("fer2013, fer2013_f") == "FER2013"


def test_gains_get_one_panel_per_label_set_and_long_member_lists_are_shown_by_count():
    import pandas as pd

    from fer_study.book import plots

    table = pd.DataFrame({"group": ["fer2013, fer2013_f", "fer2013_a", "ferplus"], "ensemble": ["all runs"] * 3,
                          "combiner": ["mean"] * 3, "tta": [False] * 3, "gain_pp": [1.0, 0.5, 2.0],
                          "gain_low": [0.1, -0.5, 1.0], "gain_high": [2.0, 1.5, 3.0], "n_members": [11, 10, 2],
                          "members": ["r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10", "r0, r1", "p0, p1"],
                          "weights": [", ".join(["0.09"] * 11), "0.50, 0.50", ""]})
    figure = plots.plot_gains(table)
    assert [axes.get_xlabel().rsplit("on ", 1)[1] for axes in figure.axes] == [
        ensemble.FER2013_LABELS, ensemble.FERPLUS_LABELS]
    assert [len(axes.get_yticklabels()) for axes in figure.axes] == [2, 1]
    shown = ensemble_tables.for_reading(table)
    assert list(shown["members"]) == ["every run of the group", "r0, r1", "p0, p1"]
    assert list(shown["weights"]) == ["11 weights fitted on validation", "0.50, 0.50", ""]
    assert table.loc[0, "members"].startswith("r0, r1")  # the table itself keeps every name


def test_claims_get_one_panel_per_label_set_with_the_human_band_on_fer2013s():
    import pandas as pd

    from fer_study.book import plots

    comparison = pd.DataFrame({
        "metric": ["accuracy"] * 3, "claim": ["a-fer2013", "a-ferplus", None], "model": ["m", "m", "vgg_cpu"],
        "ensemble": [None] * 3, "dataset": ["fer2013 (own)", "ferplus (unclear)", "fer2013"],
        "tier": [None, None, "cpu"], "claimed": [79.8, 91.6, None], "verdict": ["no run", "no run", "not comparable"],
        "reproduced": [None, None, 66.0], "spread": [None, None, 0.5]})
    figure = plots.plot_claims(comparison, (65.0, 5.0))
    assert [axes.get_xlabel() for axes in figure.axes] == [f"accuracy % on {ensemble.FER2013_LABELS}",
                                                           f"accuracy % on {ensemble.FERPLUS_LABELS}"]
    assert [len(axes.get_yticklabels()) for axes in figure.axes] == [2, 1]
    legends = [[text.get_text() for text in axes.get_legend().get_texts()] for axes in figure.axes]
    assert legends[0][0].startswith("human 65") and not any(text.startswith("human") for text in legends[1])
