"""The front page's findings on fixture runs: one label set, chosen on validation, costs measured."""

import numpy as np
from fixture_runs import labels_for, write_run, wrong_on

from fer_study.analysis import ensemble, leaderboard
from fer_study.book import findings
from fer_study.models import list_models, model_info
from fer_study.runs import load_runs

LABELS = labels_for(40)


def test_the_best_model_is_chosen_on_validation_among_fer2013_runs_and_paper_models_wait_for_a_gpu(tmp_path):
    write_run(tmp_path, "val_best", wrong_on(LABELS, [0, 1]), wrong_on(LABELS, range(8)), params=100)
    write_run(tmp_path, "test_best", wrong_on(LABELS, range(6)), wrong_on(LABELS, [0]), params=100)
    # FER+ labels are easier: best on validation by far, but another benchmark.
    write_run(tmp_path, "ferplus", LABELS, LABELS, dataset="ferplus", params=100,
              test_ids=np.array([f"plus{i}" for i in range(len(LABELS))]))
    write_run(tmp_path, "paper_vggnet", LABELS, wrong_on(LABELS, range(4)), model="vggnet", tier="full",
              dataset="fer2013_a", test_ids=np.array([f"a{i}" for i in range(len(LABELS))]))
    runs = [run for run in load_runs(tmp_path) if run.name != "paper_vggnet"]
    results, _ = ensemble.evaluate_all(runs, bootstrap_samples=50)
    best = findings.best_models(runs, results, bootstrap_samples=50)
    assert list(best["kind"]) == ["best single model", "best ensemble"]
    assert best.loc[0, "what"] == "val_best (vgg_cpu)" and best.loc[0, "test_acc_pct"] == 80.0
    assert best.loc[0, "test_acc_low"] <= 80.0 <= best.loc[0, "test_acc_high"]
    assert best.loc[0, "cpu_ms_per_face"] > 0 and "fer2013" in best.loc[1, "what"]
    text = findings.best_models_text(best, leaderboard.entries_frame()).data
    assert "**80.0 %**" in text and "one seed" in text

    waiting = findings.untrained_paper_models(load_runs(tmp_path))
    assert "vggnet" not in waiting
    assert set(waiting) == {name for name in list_models() if model_info(name).paper_model} - {"vggnet"}
    text = findings.untrained_text(load_runs(tmp_path)).data
    assert findings.FULL_TIER_COMMAND in text
    assert f"- {model_info('resnet18').paper}: " in text and "`resnet18`" in text and "`vggnet`" not in text
