"""The best models' diagnostics on hand-countable predictions: calibration, temperature, label noise."""

import numpy as np
import pandas as pd
import pytest
from fixture_data import brightness_dataset
from fixture_runs import labels_for, write_run

from fer_study.analysis import diagnostics
from fer_study.analysis.diagnostics import Predictions
from fer_study.data import variants
from fer_study.runs import load_run


def predictions(name, test_logits, test_labels, val_logits=None, val_labels=None):
    return Predictions(name, test_logits if val_logits is None else val_logits,
                       test_labels if val_labels is None else val_labels, test_logits, test_labels,
                       np.array([f"t{i}" for i in range(len(test_labels))]))


def test_a_model_right_as_often_as_it_is_sure_has_no_calibration_error_and_an_overconfident_one_does():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 20000)
    # Confidence 0.7 on the predicted class; right on 70 % of the images: calibrated.
    predicted = np.where(rng.random(20000) < 0.7, labels, (labels + 1) % 7)
    probabilities = np.full((20000, 7), 0.05)
    probabilities[np.arange(20000), predicted] = 0.7
    logits = np.log(probabilities)
    assert diagnostics.expected_calibration_error(logits, labels) == pytest.approx(0.0, abs=0.01)
    # The same predictions made sharper (temperature 0.5): overconfident, and the fit on them undoes it.
    assert diagnostics.expected_calibration_error(logits / 0.5, labels) > 0.15
    assert diagnostics.fit_temperature(logits / 0.5, labels) == pytest.approx(2.0, rel=0.05)  # undoes the 0.5
    table = diagnostics.calibration_table([predictions("sharp", logits / 0.5, labels)])
    assert table.loc[0, "ece_scaled_pct"] < 1.0 < table.loc[0, "ece_pct"]
    assert table.loc[0, "nll_scaled"] < table.loc[0, "nll"]


def test_label_noise_counts_the_errors_ferplus_calls_right():
    labels = np.array([0, 0, 1, 1, 2])
    logits = np.eye(7)[[0, 3, 1, 4, 2]] * 5  # wrong on t1 (says 3) and t3 (says 4)
    model = predictions("m", logits, labels)
    # FER+ labels t1 as 3 (the model's answer), t3 as 1 (FER2013's); t4 is not labelled by FER+.
    row = diagnostics.label_noise_table([model], {"t0": 0, "t1": 3, "t2": 1, "t3": 1}).iloc[0]
    assert row["faces"] == 4 and row["fer2013_acc_pct"] == 50.0 and row["ferplus_acc_pct"] == 75.0
    assert row["errors_ferplus_calls_right_pct"] == 50.0
    pairs = pd.DataFrame({"split": ["test", "test", "val"], "fer2013_id": ["t0", None, "v0"],
                          "ferplus_label": ["sad", "happy", "angry"]})
    assert diagnostics.ferplus_labels(pairs) == {"t0": 4}


def test_confidently_wrong_faces_come_most_confident_first_and_are_found_by_id():
    labels = np.array([0, 1, 2, 3])
    logits = np.array([[0, 9, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0], [0, 0, 0, 3, 0, 0, 0], [0, 0, 0, 0, 5, 0, 0]],
                      dtype=float)
    wrong = diagnostics.confidently_wrong(predictions("m", logits, labels), count=2)
    assert list(wrong["id"]) == ["t0", "t3"] and list(wrong["predicted"]) == ["disgust", "sad"]
    assert diagnostics.gallery_titles(wrong)[0].startswith("angry\n→ disgust ")
    images = np.arange(4 * 2 * 2).reshape(4, 2, 2)
    found = diagnostics.images_by_id(images, np.array(["t3", "t0", "t2", "t1"]), list(wrong["id"]))
    assert (found == images[[1, 0]]).all()
    with pytest.raises(KeyError, match="1 ids not in the dataset, e.g. 'nope'"):
        diagnostics.images_by_id(images, np.array(["t0"] * 4), ["nope"])


def test_the_reliability_figure_has_a_panel_per_model():
    from fer_study.book import plots

    labels = np.arange(70) % 7
    models = [predictions(name, np.eye(7)[labels] * 3, labels) for name in ("single", "ensemble")]
    figure = plots.plot_reliability(diagnostics.reliability_curves(models))
    assert len(figure.axes) == 2 and figure.axes[0].get_xlabel() == "mean confidence in the bin"
    assert not plots.plot_reliability({}).axes[0].axison


def test_the_ids_of_a_run_storing_their_digest_are_read_from_its_datasets_split_and_checked(tmp_path, monkeypatch):
    dataset = brightness_dataset("fer2013")
    loaded = []
    monkeypatch.setattr(variants, "load_dataset", lambda name: loaded.append(name) or dataset)
    test_ids = dataset.subset("test").ids
    write_run(tmp_path, "new", labels_for(len(test_ids)), labels_for(len(test_ids)), test_ids=test_ids,
              dataset="fer2013_a")
    run = load_run("new", tmp_path)
    assert list(diagnostics.of_run(run).test_ids) == list(test_ids) and loaded == ["fer2013"]  # the variant's base
    dataset.ids[dataset.splits == "test"] = dataset.ids[dataset.splits == "test"][::-1]
    with pytest.raises(ValueError, match="run 'new' scored other test images than dataset 'fer2013_a' has"):
        diagnostics.image_ids(run, "test")
