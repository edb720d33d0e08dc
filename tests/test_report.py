"""The per-paper chapters' computations (``fer_study.book.report``) on fixture runs, the real run configs and
the model docstrings, and the chapters' way to train or load their runs (``fer_study.train.named_runs``)."""

import numpy as np
import pandas as pd
import pytest
from fixture_faces import noise_dataset
from fixture_runs import labels_for, write_run, wrong_on

from fer_study.book import plots, report
from fer_study.core import paths
from fer_study.core.constants import NUM_CLASSES
from fer_study.data import samples
from fer_study.runs import best_on_validation, committed_runs, run_title
from fer_study.train.named_runs import load_or_train, train_runs

N_IMAGES = 14


def _run(runs_dir, name, val_wrong=(), test_wrong=(), **metrics):
    labels = labels_for(N_IMAGES)
    return write_run(runs_dir, name, wrong_on(labels, val_wrong), wrong_on(labels, test_wrong), **metrics)


def test_sample_faces_are_synthetic_without_a_cache(isolated_paths):
    faces = samples.sample_faces(9, seed=3)
    assert faces.images.shape == (9, 48, 48) and faces.images.dtype == np.uint8
    assert set(faces.labels) <= set(range(NUM_CLASSES)) and "synthetic" in faces.source
    assert faces.images.std() > 10  # varied images, not blank frames
    np.testing.assert_array_equal(faces.images, samples.sample_faces(9, seed=3).images)


def test_model_summary_is_computed_and_labels_scaled_variants():
    summary = report.model_summary(["resemotenet_s", "vgg_cpu", "vggnet"]).set_index("model")
    assert summary.loc["vggnet", "params_M"] == pytest.approx(29.89, rel=0.01)
    assert summary.loc["resemotenet_s", "input_size"] == 48 and summary.loc["vggnet", "input_size"] == 40
    assert not summary.loc["resemotenet_s", "paper_model"] and summary.loc["vggnet", "paper_model"]
    assert "scaled variant of resemotenet" in summary.loc["resemotenet_s", "role"]
    assert "not a paper's" in summary.loc["vgg_cpu", "role"]


def test_deviation_notes_come_from_the_module_docstring():
    notes = report.deviation_notes("resemotenet")
    assert notes.count("Deliberate deviations") == 1 and "`resemotenet_s`" in notes and "``" not in notes
    assert "Deviation: the model returns logits" in report.deviation_notes("mini_xception")
    assert "states no deviations" in report.deviation_notes("vgg_cpu")
    with pytest.raises(KeyError):
        report.deviation_notes("no_such_model")


def test_recipe_table_reads_the_first_tier_with_a_config():
    table = report.recipe_table(["resemotenet_ft_trainval", "resemotenet_s", "no_such_run"]).set_index("run")
    assert table.loc["resemotenet_ft_trainval", "tier"] == "full"
    assert table.loc["resemotenet_ft_trainval", "train_splits"] == "train, val"
    assert table.loc["resemotenet_ft_trainval", "parent"] == "resemotenet"
    assert table.loc["resemotenet_ft_trainval", "lr"] == "0.0001"  # as written, not rounded away
    assert table.loc["resemotenet_s", "tier"] == "cpu" and table.loc["no_such_run", "tier"] == "no config"


def test_runs_table_best_run_and_its_confusion(tmp_path):
    confusion = np.eye(NUM_CLASSES, dtype=int).tolist()
    _run(tmp_path, "resemotenet", val_wrong=[0, 1], test_wrong=[0], model="resemotenet",
         test_confusion=confusion)
    _run(tmp_path, "resemotenet_s", val_wrong=[0], test_wrong=[0, 1, 2], model="resemotenet_s",
         paper_model=False, test_confusion=confusion)
    names = ["resemotenet", "resemotenet_adamw", "resemotenet_s"]
    table = report.runs_table(names, tmp_path).set_index("run")
    assert table.loc["resemotenet_adamw", "status"] == report.NO_RUN
    assert table.loc["resemotenet", "test_acc_pct"] == pytest.approx(100 * 13 / 14)
    assert table.loc["resemotenet_s", "val_acc_pct"] == pytest.approx(100 * 13 / 14)
    assert "not comparable" in table.loc["resemotenet_s", "role"]
    runs = committed_runs(["resemotenet", "resemotenet_s", "missing"], tmp_path)
    assert [run.name for run in runs] == ["resemotenet", "resemotenet_s"]
    assert best_on_validation(runs).name == "resemotenet_s"  # chosen on validation, though worse on test
    matrix, title = report.best_confusion(runs, "fer2013")
    assert matrix == confusion and run_title("resemotenet_s") in title
    assert report.best_confusion(runs, "ferplus") == (None, f"ferplus: {report.NO_RUN}")
    assert best_on_validation(runs, "ferplus") is None


def test_comparison_rows_keep_the_papers_claims_and_its_unclaimed_runs():
    table = pd.DataFrame({"claim": ["rmn-single", "report-rmn", "resemotenet-fer2013", None, None],
                          "model": ["resmasking_dropout1", "resmasking_dropout1", "resemotenet", "resnet18",
                                    "vgg_cpu"]})
    rows = report.comparison_rows(table, ("rmn", "report-rmn"), ("resnet18",))
    assert rows["claim"].tolist()[:2] == ["rmn-single", "report-rmn"]
    assert rows["model"].tolist()[2:] == ["resnet18"]


def test_paper_claims_and_paper_comparison_keep_one_papers_rows(tmp_path):
    claim_rows = report.paper_claims(("rmn", "report-rmn"))
    assert list(claim_rows.columns) == report.CLAIM_COLUMNS
    assert claim_rows["id"].str.match(r"^(rmn|report-rmn)").all() and len(claim_rows) > 0
    _run(tmp_path, "resnet18_native", val_wrong=[0], test_wrong=[1], model="resnet18")
    rows = report.paper_comparison(("rmn",), ("resnet18",), tmp_path, bootstrap_samples=20)
    assert set(report.SECTION_COMPARISON_COLUMNS) <= set(rows.columns)
    assert rows["claim"].fillna("").str.startswith("rmn").any()
    assert (rows["model"] == "resnet18").any()  # the unclaimed run of a chapter's model


def test_load_or_train_loads_committed_runs_and_plots_their_curves(tmp_path):
    _run(tmp_path, "cyclic", val_wrong=[0], test_wrong=[0])
    runs = load_or_train(["cyclic", "missing"], "smoke", tmp_path)
    assert [run.name for run in runs] == ["cyclic"]
    assert len(plots.plot_histories(runs)) == 1
    assert len(plots.plot_histories([])) == 1  # the message figure


def test_snapshot_table_builds_the_snapshot_ensemble_of_a_run(tmp_path):
    _run(tmp_path, "cyclic", val_wrong=[0, 1], test_wrong=[0, 1])
    # Snapshots of other epochs than the one the run selected: three sets of weights.
    _run(tmp_path, "cyclic_snap030", val_wrong=[2], test_wrong=[2], snapshot_of="cyclic", selected_epoch=30)
    _run(tmp_path, "cyclic_snap040", val_wrong=[3], test_wrong=[3], snapshot_of="cyclic", selected_epoch=40)
    _run(tmp_path, "other", val_wrong=[4], test_wrong=[4])
    table = report.snapshot_table(["cyclic"], tmp_path, bootstrap_samples=20)
    assert table["ensemble"].tolist() == ["snapshots of cyclic"]  # no TTA logits: the TTA row is absent
    assert "other" not in table.loc[0, "members"] and table.loc[0, "n_members"] == 3
    assert report.snapshot_table(["other"], tmp_path, bootstrap_samples=20).empty


def test_train_runs_trains_the_tier_configs_and_skips_the_others(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(paths, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    monkeypatch.setattr(paths, "SCRATCH_DIR", tmp_path)
    dataset = noise_dataset(train_per_class=(10,) * NUM_CLASSES, eval_per_class=1)  # two batches of 32
    written = train_runs(["no_such_run", "resemotenet_s"], "smoke", tmp_path / "runs", dataset)
    assert [path.name for path in written] == ["resemotenet_s"]
    assert "no_such_run: no smoke-tier config" in capsys.readouterr().out
    assert report.runs_table(["resemotenet_s"], tmp_path / "runs").loc[0, "tier"] == "smoke"

