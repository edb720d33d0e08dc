"""The statistics of the seeded experiments, on hand-countable fixtures: an injected effect is found, a
null one is not, seed variance widens the interval, and Holm's correction is the textbook one."""

import numpy as np
import pandas as pd
import pytest

from fer_study.analysis import experiments
from fer_study.analysis.experiments import BASE_RECIPE, HELPS, HURTS, NO_EFFECT, Arm
from fer_study.core import metrics, paths
from fer_study.runs import Run, save_run
from fer_study.train import TrainConfig


def fake_run(name: str, seed: int, correct: np.ndarray) -> Run:
    """A run whose test predictions are right exactly where ``correct`` is 1 (labels all 0)."""
    labels = np.zeros(len(correct), dtype=np.int64)
    logits = np.zeros((len(correct), 7))
    logits[np.arange(len(correct)), np.where(correct == 1, 0, 1)] = 1.0
    history = pd.DataFrame({"train_accuracy": [0.5, 0.7]})
    return Run(name, None, {}, {"seed": seed, "epochs": len(history)}, history,
               {"test_labels": labels, "test_logits": logits, "test_ids": np.arange(len(correct)).astype(str)})


def arm(label: str, accuracies: list[float], n_images: int = 3000, seed: int = 0, recipe: str | None = None) -> Arm:
    rng = np.random.default_rng(seed)
    runs = [fake_run(f"{label}_seed{i}", i, (rng.random(n_images) < accuracy).astype(int))
            for i, accuracy in enumerate(accuracies)]
    return Arm(label, recipe or label, runs)


def test_holm_adjusts_as_the_textbook_example():
    # sorted p: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> kept monotone at 0.06
    np.testing.assert_allclose(metrics.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


def test_bootstrap_p_value_is_twice_the_smaller_tail():
    assert metrics.bootstrap_p_value(np.array([1.0, 2.0, 3.0, -1.0])) == 0.5
    assert metrics.bootstrap_p_value(np.ones(100)) == pytest.approx(0.01)  # floor: one over the draws


def test_detectable_difference_is_2_8_standard_errors_at_alpha_05_power_80():
    assert metrics.detectable_difference(1.0) == pytest.approx(2.8016, abs=1e-3)


def test_an_injected_effect_is_found_in_both_directions_and_a_null_one_is_not():
    base = arm("base", [0.60, 0.61, 0.60], seed=1)
    table = experiments.compare_to_base(base, [arm("better", [0.66, 0.67, 0.66], seed=2),
                                               arm("worse", [0.54, 0.55, 0.54], seed=3),
                                               arm("same", [0.60, 0.61, 0.60], seed=4)], samples=1000)
    verdicts = dict(zip(table["arm"], table["verdict"], strict=True))
    assert verdicts == {"better": HELPS, "worse": HURTS, "same": NO_EFFECT}
    better = table.set_index("arm").loc["better"]
    assert better["low_pp"] < better["difference_pp"] < better["high_pp"] and better["low_pp"] > 0
    assert (table["p_holm"] >= table["p_value"]).all()


def test_seed_variance_widens_the_interval():
    steady = experiments.compare_to_base(arm("base", [0.6] * 3, seed=1), [arm("arm", [0.6] * 3, seed=2)])
    noisy = experiments.compare_to_base(arm("base", [0.5, 0.6, 0.7], seed=1), [arm("arm", [0.5, 0.6, 0.7], seed=2)])
    width = lambda table: float(table["high_pp"].iloc[0] - table["low_pp"].iloc[0])  # noqa: E731
    assert width(noisy) > 2 * width(steady)


def test_arms_with_too_few_seeds_get_no_verdict():
    table = experiments.compare_to_base(arm("base", [0.6] * 3), [arm("two", [0.7, 0.7])])
    assert table["verdict"].iloc[0] == "too few seeds (2 of 3)" and np.isnan(table["difference_pp"].iloc[0])
    table = experiments.compare_to_base(arm("base", [0.6]), [arm("three", [0.7] * 3)])
    assert table["f1_verdict"].iloc[0] == "too few seeds (base: 1 of 3)"


def test_summary_counts_by_hand():
    runs = [fake_run("x_seed0", 0, np.array([1, 1, 0, 0])), fake_run("x_seed1", 1, np.array([1, 1, 1, 1]))]
    row = experiments.summary_table([Arm("x", "x", runs)]).iloc[0]
    assert row["seeds"] == 2 and row["acc_mean"] == 75.0
    assert row["acc_sd"] == pytest.approx(np.std([50.0, 100.0], ddof=1))
    assert row["recall_angry"] == 75.0 and row["train_acc_mean"] == 70.0


def test_load_arms_groups_seed_runs_by_recipe(tmp_path):
    for name, seed in (("a_seed0", 0), ("a_seed1", 1), ("b_seed0", 0), ("a_plain", 0)):
        run = fake_run(name, seed, np.array([1, 0, 1]))
        save_run(tmp_path / name, {"dataset": "fer2013"}, {"seed": seed}, run.history,
                 {**run.predictions, "val_labels": run.predictions["test_labels"],
                  "val_logits": run.predictions["test_logits"], "val_ids": run.predictions["test_ids"]})
    arms = experiments.load_arms({"A": "a", "B": "b", "C": "c"}, tmp_path)
    assert [len(a.runs) for a in arms] == [2, 1, 0] and arms[0].seeds == [0, 1]


def test_an_arm_tested_on_other_images_is_compared_on_the_fer2013_test_it_records(tmp_path):
    """FER+ drops some FER2013 faces: its runs are scored on FER2013 PrivateTest (``fer2013_test``)."""
    def save(name, seed, predictions):
        save_run(tmp_path / name, {}, {"seed": seed, "epochs": 1}, pd.DataFrame({"train_accuracy": [0.5]}),
                 predictions)

    base = fake_run("base_seed0", 0, np.array([1, 0, 1, 0]))
    save("base_seed0", 0, base.predictions)
    own_test = fake_run("own", 0, np.array([1, 1, 1]))  # three images, other ids: FER+'s own test split
    own_test.predictions["test_ids"] = np.array(["p0", "p1", "p2"])
    on_fer2013 = fake_run("fer", 0, np.array([1, 1, 1, 0]))
    save("plus_seed0", 0, {**own_test.predictions,
                           **{key.replace("test", "fer2013_test"): value
                              for key, value in on_fer2013.predictions.items()}})
    save("broken_seed0", 0, own_test.predictions)  # no FER2013 scores at all

    base_arm, plus = experiments.load_arms({"base": "base", "plus": "plus"}, tmp_path)
    assert (base_arm.split, plus.split) == ("test", experiments.FER2013_TEST)
    assert plus.correct().tolist() == [[1, 1, 1, 0]]
    row = experiments.summary_table([plus]).iloc[0]
    assert row["acc_mean"] == 75.0 and row["own_test_acc"] == 100.0
    with pytest.raises(ValueError, match="'broken' were not all tested on the images of 'base_seed0'"):
        experiments.load_arms({"base": "base", "broken": "broken"}, tmp_path)


@pytest.mark.parametrize(("text", "problem"), [
    ("question: Q?\narms: {a: b}\n", "expected a list of questions"),
    ("- question: Q?\n", "question 1: expected a new 'question'"),
    ("- question: Q?\n  arms: {}\n", "question 1: expected a new 'question'"),
    ("- question: Q?\n  arms: {a: b}\n  bases: c\n", "question 1: expected a new 'question'"),
    ("- question: Q?\n  arms: {a: b}\n- question: Q?\n  arms: {c: d}\n", "question 2: expected a new 'question'"),
])
def test_a_malformed_questions_file_is_refused_naming_the_file_and_the_question(tmp_path, text, problem):
    path = tmp_path / "questions.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"{path}: {problem}"):
        experiments.load_questions(path)
    path.write_text("- question: Q?\n  base: c\n  arms: {a: b}\n")
    assert experiments.load_questions(path) == ({"Q?": {"a": "b"}}, {"Q?": "c"})


def test_every_recipe_of_a_question_has_a_config_and_a_question_may_name_its_own_base(tmp_path):
    """The arms, each question's base, and the float32 twin of the base of a question with a float32 arm."""
    float32_bases = {experiments.precision_twin(experiments.QUESTION_BASES.get(question, BASE_RECIPE), "float32")
                     for question, arms in experiments.QUESTIONS.items()
                     if any(experiments.FLOAT32_TWIN_SUFFIX in recipe for recipe in arms.values())}
    recipes = {BASE_RECIPE, *experiments.QUESTION_BASES.values(), *float32_bases,
               *(recipe.removesuffix(experiments.SNAPSHOTS) for arms in experiments.QUESTIONS.values()
                 for recipe in arms.values())}
    assert {"exp_base_float32", "exp_ft_train_float32", "exp_cyclic_float32"} <= float32_bases
    for recipe in recipes:
        TrainConfig.from_yaml(paths.PARAMS_DIR / "cpu" / "runs" / f"{recipe}.yaml", run_name=recipe)
    question = next(iter(experiments.QUESTION_BASES))
    arms, _, text = experiments.answer(question, tmp_path)
    assert arms[0].recipe == experiments.QUESTION_BASES[question] and "No run of the base recipe" in text


def test_a_snapshot_arm_is_the_mean_softmax_ensemble_of_each_seed_runs_snapshots(tmp_path):
    def save(name, seed, logits, **metrics):
        run = fake_run(name, seed, np.ones(len(logits), dtype=int))
        predictions = {**run.predictions, "test_logits": np.asarray(logits, dtype=np.float32)}
        save_run(tmp_path / name, {}, {"seed": seed, **metrics}, run.history,
                 {**predictions, **{key.replace("test", "val"): value for key, value in predictions.items()}})

    two = np.eye(7)[[0, 1]]  # two images, both labelled 0 (fake_run): right on the first, wrong on the second
    save("cyc_seed0", 0, two)
    save("cyc_seed0_snap002", 0, 5 * np.eye(7)[[0, 0]], snapshot_of="cyc_seed0")   # sure of class 0 twice
    save("cyc_seed0_snap004", 0, 1 * np.eye(7)[[1, 1]], snapshot_of="cyc_seed0")   # unsure of class 1 twice
    save("cyc_seed0_snapshot_like", 0, 9 * np.eye(7)[[1, 1]])  # not a snapshot of it: no snapshot_of
    save("lone_seed0", 0, two)

    single, ensemble = experiments.load_arms({"single": "cyc", "snap": "cyc+snapshots"}, tmp_path)
    assert single.correct().tolist() == [[1, 0]] and ensemble.correct().tolist() == [[1, 1]]
    assert ensemble.runs[0].metrics["members"] == ["cyc_seed0_snap002", "cyc_seed0_snap004"]
    probabilities = np.exp(ensemble.runs[0].logits("test"))
    np.testing.assert_allclose(probabilities.sum(1), 1.0)
    assert experiments.load_arms({"snap": "lone+snapshots"}, tmp_path)[0].runs == []
    # A run that selected a snapshot epoch has no snapshot run of it (training writes none): it is that member.
    save("cyc_seed1", 1, two, selected_epoch=6)
    (tmp_path / "cyc_seed1" / "config.yaml").write_text("snapshot_epochs: [2, 4, 6]\n")
    save("cyc_seed1_snap002", 1, 5 * np.eye(7)[[0, 0]], snapshot_of="cyc_seed1", selected_epoch=2)
    save("cyc_seed1_snap004", 1, 1 * np.eye(7)[[1, 1]], snapshot_of="cyc_seed1", selected_epoch=4)
    ensemble = experiments.load_arms({"snap": "cyc+snapshots"}, tmp_path)[0].runs[1]
    assert ensemble.metrics["members"] == ["cyc_seed1_snap002", "cyc_seed1_snap004", "cyc_seed1"]


def test_the_answer_text_states_verdicts_and_what_is_still_missing():
    base = arm("base", [0.60] * 3, seed=1)
    arms = [arm("better", [0.70] * 3, seed=2), arm("same", [0.60] * 3, seed=4), arm("one seed", [0.7], seed=3),
            Arm("none", "none", [])]
    comparison = experiments.compare_to_base(base, arms, samples=500)
    text = experiments.answer_text("Q?", comparison, base)
    assert text.startswith("**Q?** Base: base (`base`),") and "over 3 seeds" in text
    assert "On accuracy (Holm-corrected over both metrics, alpha 0.05): Helps: better (+10." in text
    same = comparison.set_index("arm").loc["same"]
    assert same["verdict"] == experiments.NO_EFFECT
    # The detectable difference quoted is the neutral arm's own, not the smallest of the table.
    assert (f". No detectable effect: same (the design detects about {same['detectable_pp']:.1f} pp or more)."
            in text)
    assert "On macro-F1 (Holm-corrected over both metrics, alpha 0.05): Helps: better" in text
    assert text.endswith("Not yet run with 3 seeds: one seed (1 of 3 seeds); none.")


def test_an_answer_shows_its_summary_in_the_chapters_columns_and_its_comparison_without_recipes():
    base, arms = arm("base", [0.60] * 3, seed=1), [arm("better", [0.70] * 3, seed=2), Arm("none", "none", [])]
    comparison = experiments.compare_to_base(base, arms, samples=200)
    shown = experiments.Answer([base, *arms], comparison, experiments.answer_text("Q?", comparison, base))
    summary = shown.summary()
    assert list(summary.columns) == list(experiments.SUMMARY_COLUMNS)
    assert list(summary["arm"]) == ["base", "better", "none"] and summary["seeds"].tolist() == [3, 3, 0]
    assert summary.loc[1, "acc_mean"] == pytest.approx(70, abs=2)
    assert list(shown.summary(["arm", "recall_happy"]).columns) == ["arm", "recall_happy"]
    differences, better = shown.differences(), comparison.iloc[0]
    assert list(differences.columns) == ["arm", "seeds", "interval_pp", "verdict", "f1_interval_pp", "f1_verdict"]
    assert differences.loc[0, "verdict"] == f"{better['verdict']} (Holm p {better['p_holm']:.3f})"
    assert list(differences["arm"]) == ["better", "none"]
    assert differences.loc[0, "interval_pp"] == (f"{better['difference_pp']:+.2f} [{better['low_pp']:+.2f}, "
                                                 f"{better['high_pp']:+.2f}]")
    assert differences.loc[1, "interval_pp"] == "" and differences.loc[1, "verdict"].startswith("too few seeds")


def classes_run(name: str, seed: int, labels: np.ndarray, predicted: np.ndarray) -> Run:
    logits = np.eye(7)[predicted]
    return Run(name, None, {}, {"seed": seed}, pd.DataFrame({"train_accuracy": [0.7]}),
               {"test_labels": labels, "test_logits": logits, "test_ids": np.arange(len(labels)).astype(str)})


def test_macro_f1_finds_a_minority_class_remedy_that_accuracy_cannot_see():
    """Both arms are right on 90 % of the images; the remedy trades 50 majority faces for 50 minority ones."""
    labels = np.array([0] * 900 + [1] * 100)
    majority_only = np.zeros(1000, dtype=int)
    remedy = majority_only.copy()
    remedy[900:950] = 1  # half the minority class found...
    remedy[:50] = 1      # ...at the cost of 50 majority faces
    base = Arm("base", "base", [classes_run(f"b{i}", i, labels, majority_only) for i in range(3)])
    arm_ = Arm("remedy", "remedy", [classes_run(f"r{i}", i, labels, remedy) for i in range(3)])
    row = experiments.compare_to_base(base, [arm_], samples=400).iloc[0]
    assert row["difference_pp"] == 0 and row["verdict"] == NO_EFFECT
    expected_f1 = 100 * (metrics.macro_f1(labels, remedy) - metrics.macro_f1(labels, majority_only))
    assert row["f1_difference_pp"] == pytest.approx(expected_f1) and expected_f1 > 5  # over all seven classes
    assert row["f1_low_pp"] > 0 and row["f1_verdict"] == HELPS
    draws = metrics.bootstrap_macro_f1_differences(base.predicted(), arm_.predicted(), labels, 400)
    assert np.mean(draws) * 100 == pytest.approx(expected_f1, abs=1.0)


def save_seed_run(runs_dir, recipe: str, seed: int, precision: str, accuracy: float = 0.6) -> None:
    """A committed-like seed run of ``recipe`` trained in ``precision``, right on about ``accuracy`` of 400 images."""
    run = fake_run(f"{recipe}_seed{seed}", seed, (np.random.default_rng(seed).random(400) < accuracy).astype(int))
    save_run(runs_dir / run.name, {}, {"seed": seed, "precision": precision}, run.history,
             {**run.predictions, **{key.replace("test", "val"): value for key, value in run.predictions.items()}})


def test_a_float32_arm_is_compared_with_the_float32_base(tmp_path):
    for seed in range(3):
        save_seed_run(tmp_path, BASE_RECIPE, seed, "bfloat16")
        save_seed_run(tmp_path, experiments.precision_twin(BASE_RECIPE, "float32"), seed, "float32")
        save_seed_run(tmp_path, "exp_fer2013_a_cw_float32", seed, "float32")
        save_seed_run(tmp_path, "exp_class_weights", seed, "bfloat16")
    arms, comparison, text = experiments.answer("Which training data helps?", tmp_path, samples=100)
    bases = comparison.set_index("recipe")["base"]
    assert bases["exp_fer2013_a_cw_float32"] == "exp_base_float32" and bases["exp_class_weights"] == BASE_RECIPE
    assert "Arms trained in float32 are compared with experiment base in float32 (`exp_base_float32`)" in text
    assert [arm.recipe for arm in arms[:2]] == [BASE_RECIPE, "exp_base_float32"]


def test_a_float32_arm_of_a_question_with_its_own_control_is_compared_with_the_controls_float32_twin(tmp_path):
    question = "Do the report's fine-tuning stages help?"
    control = experiments.QUESTION_BASES[question]
    for seed in range(3):
        for recipe, precision in [(control, "bfloat16"), (f"{control}_float32", "float32"),
                                  ("exp_ft_val", "bfloat16"), ("exp_ft_val_float32", "float32")]:
            save_seed_run(tmp_path, recipe, seed, precision)
    arms, comparison, _ = experiments.answer(question, tmp_path, samples=100)
    bases = comparison.set_index("recipe")["base"]
    assert bases["exp_ft_val_float32"] == f"{control}_float32" and bases["exp_ft_val"] == control


def test_a_question_whose_base_has_only_float32_runs_answers_its_float32_arms(tmp_path):
    """An AVX2-only machine trains only the float32 twins: their verdict must not wait for bfloat16 runs."""
    question = "Do the report's fine-tuning stages help?"
    control = experiments.QUESTION_BASES[question]
    for seed in range(3):
        save_seed_run(tmp_path, f"{control}_float32", seed, "float32")
        save_seed_run(tmp_path, "exp_ft_val_float32", seed, "float32", accuracy=0.9)
    _, comparison, text = experiments.answer(question, tmp_path, samples=100)
    assert comparison.set_index("recipe").loc["exp_ft_val_float32", "verdict"] == experiments.HELPS
    assert text.startswith(f"**{question}** The base recipe `{control}` has no committed run yet. Arms trained in "
                           f"float32 are compared with")
    assert "Helps: train + validation 3 epochs, then validation 3 epochs, float32 (+" in text


def test_precision_twins_keep_the_snapshot_ensemble_suffix_last():
    assert experiments.precision_twin("exp_cyclic+snapshots", "float32") == "exp_cyclic_float32+snapshots"
    assert experiments.precision_twin("exp_base_float32", "float32") == "exp_base_float32"
    assert experiments.precision_twin("exp_cyclic_float32+snapshots", "bfloat16") == "exp_cyclic+snapshots"
    assert experiments.precision_twin("exp_base", None) == "exp_base"


def test_an_arm_answered_by_its_float32_twin_is_not_pending_and_unanswered_twins_are_named_once():
    base = arm("base", [0.60] * 3, seed=1)
    arms = [Arm("recipe a", "a", []), arm("recipe a, float32", [0.6] * 3, seed=2, recipe="a_float32"),
            arm("recipe b", [0.6], seed=3, recipe="b"), arm("recipe b, float32", [0.6] * 2, seed=4, recipe="b_float32"),
            Arm("recipe c", "c", []), Arm("recipe d", "d+snapshots", []),
            arm("recipe d, float32", [0.6], seed=5, recipe="d_float32+snapshots")]
    comparison = experiments.compare_to_base(base, arms, samples=100)
    assert experiments.pending_arms(comparison) == [("recipe b, in either precision", 2), ("recipe c", 0),
                                                    ("recipe d, in either precision", 1)]
    assert experiments.verdict_summary(comparison).endswith(
        "Not yet run with 3 seeds: recipe b, in either precision; recipe c; recipe d, in either precision.")
    assert experiments.answer_text("Q?", comparison, base).endswith(
        "Not yet run with 3 seeds: recipe b, in either precision (2 of 3 seeds); recipe c; "
        "recipe d, in either precision (1 of 3 seeds).")


def test_the_forest_plot_has_a_panel_per_metric_and_says_when_nothing_is_judged():
    from fer_study.book import plots

    base, arms = arm("base", [0.60] * 3, seed=1), [arm("better", [0.70] * 3, seed=2), arm("one", [0.7], seed=3)]
    figure = plots.plot_forest(experiments.compare_to_base(base, arms, samples=100))
    assert [axes.get_xlabel() for axes in figure.axes] == [
        "accuracy difference\nfrom the base (points)", "macro-F1 difference\nfrom the base (points)"]
    assert [label.get_text() for label in figure.axes[0].get_yticklabels()] == ["better (n=3)"]
    empty = plots.plot_forest(experiments.compare_to_base(base, arms[1:], samples=100))
    assert not empty.axes[0].axison


def test_the_one_line_verdict_names_helping_and_hurting_arms_and_counts_the_rest():
    base = arm("base", [0.60] * 3, seed=1)
    arms = [arm("Better (a, b)", [0.70] * 3, seed=2), arm("also better", [0.72] * 3, seed=5),
            arm("same", [0.60] * 3, seed=4), arm("one", [0.7], seed=3)]
    line = experiments.verdict_summary(experiments.compare_to_base(base, arms, samples=300))
    # Labels may hold commas, so each is set in italics.
    assert line.startswith("Accuracy: *Better (a, b)* and *also better* help; 1 arm shows no detectable effect. "
                           "Macro-F1: ")
    assert line.endswith("Not yet run with 3 seeds: one.")
