"""The book's presentation (fer_study.book.presentation) on fixture runs: one row per claim and tier chosen on
validation, never on test; answers and tables built from the data."""

import numpy as np
import pandas as pd
import pytest
from fixture_runs import labels_for, write_run, wrong_on
from matplotlib.figure import Figure

from fer_study.analysis import claims
from fer_study.book import presentation, tables
from fer_study.core.metrics import accuracy_half_width
from fer_study.runs import load_runs


def vggnet_recipes(runs_dir):
    """Two cpu-tier recipes of the VGGNet claim's model: ``sgd`` is better on validation, ``adam`` on test."""
    labels = labels_for(40)
    common = {"model": "vggnet", "dataset": "fer2013", "tier": "cpu"}
    write_run(runs_dir, "vggnet_sgd", wrong_on(labels, range(4)), wrong_on(labels, range(12)),
              config={"optimizer": "sgd"}, **common)
    write_run(runs_dir, "vggnet_adam", wrong_on(labels, range(10)), wrong_on(labels, range(2)),
              config={"optimizer": "adam"}, **common)


def test_headline_has_one_row_per_claim_and_tier_chosen_on_validation(tmp_path):
    vggnet_recipes(tmp_path)
    table = claims.comparison_table(tmp_path, tiers=("cpu",), bootstrap_samples=10)
    assert (table["claim"] == "vggnet").sum() == 2  # one row per recipe in the full table
    rows = presentation.headline(table, load_runs(tmp_path, ("cpu",)))

    assert not rows.duplicated(["claim", "tier"]).any()
    assert set(rows["claim"]) == set(table["claim"].dropna())
    vggnet = rows.set_index("claim").loc["vggnet"]
    assert vggnet["runs"] == ("vggnet_sgd",) and vggnet["candidates"] == 2
    assert vggnet["reproduced"] == pytest.approx(100 * 28 / 40)  # the validation pick's test accuracy
    assert vggnet["val_acc_pct"] == pytest.approx(100 * 36 / 40)
    margin = 100 * accuracy_half_width(0.7, 40)
    assert (vggnet["low"], vggnet["high"]) == pytest.approx((70 - margin, 70 + margin))

    shown = presentation.headline_table(rows)
    assert list(shown.columns) == presentation.HEADLINE_COLUMNS and len(shown) == len(rows)
    line = shown[shown["Claim"] == "vggnet"].iloc[0]
    assert line["Reproduced (95 % interval)"] == f"70.0 [{70 - margin:.1f}, {70 + margin:.1f}] %"
    assert "best of 2 on validation" in line["Chosen from"]
    assert isinstance(presentation.plot_headline(rows), Figure)
    answer = presentation.front_page_answer(rows).data
    assert f"Of {table['claim'].nunique()} published claims, 1 have" in answer
    # A CPU-budget run neither confirms nor refutes a claim: the answer says so instead of "no claim held".
    assert "1 not comparable (budget)" in answer and "no claim is confirmed or refuted yet" in answer
    assert "held" not in answer


def test_rows_without_a_reproduction_keep_their_verdict(tmp_path):
    table = claims.comparison_table(tmp_path, tiers=("cpu",), bootstrap_samples=10)
    rows = presentation.headline(table, [])
    assert len(rows) == table["claim"].nunique() and rows["reproduced"].isna().all()
    assert "None of the" in presentation.front_page_answer(rows).data
    assert "Nothing to draw" not in presentation.chapter_answer(rows, "everything").data
    assert isinstance(presentation.plot_headline(rows), Figure)


def test_tables_fit_the_column_and_long_ones_are_interactive():
    frame = pd.DataFrame({"test_acc_pct": np.linspace(50, 70, 20), "model": ["vgg_cpu"] * 20})
    short = tables.table(frame.head(3))
    assert "<div class='fer-table'>" in short._repr_html_() and "Test (%)" in short._repr_html_()
    assert "itables" not in short._repr_html_().lower()
    long = tables.table(frame, caption="twenty rows")._repr_html_()
    assert "twenty rows" in long and "itables" in long and "Test (%)" in long
    assert tables.settings_text('{"detector": "opencv", "upscale": 4}') == "detector = opencv; upscale = 4"
    assert "**Nothing" in tables.table(frame.head(0)).data


def test_show_displays_the_table_and_loads_the_interactive_library_once(monkeypatch):
    """``show`` displays wherever it stands in a cell (a returned table after another statement was lost),
    the offline DataTables library before the notebook's first interactive table and never again."""
    shown, loaded = [], []
    monkeypatch.setattr(tables, "display", shown.append)
    monkeypatch.setattr(tables, "_interactive_tables_loaded", False)
    monkeypatch.setattr("itables.init_notebook_mode", lambda **options: loaded.append(options))
    frame = pd.DataFrame({"test_acc_pct": np.linspace(50, 70, 20)})
    assert tables.show(frame.head(3)) is None and loaded == []
    tables.show(frame)
    tables.show(frame)
    assert len(shown) == 3 and all(isinstance(table, tables.FittedTable) for table in shown)
    assert loaded == [{"all_interactive": False, "connected": False}]


def test_a_chapter_answer_never_leads_with_a_claim_that_cannot_stand(tmp_path):
    table = claims.comparison_table(tmp_path, tiers=("cpu",), bootstrap_samples=10)
    rows = presentation.headline(table[table["claim"].str.startswith("pattlite", na=False)
                                       | (table["claim"] == "report-pattlite")], [])
    answer = presentation.chapter_answer(rows, "PAtt-Lite").data
    assert "claim up to 77 % for PAtt-Lite on FER2013 (report-pattlite" in answer
    assert "95.55" not in answer and "Not quoted, since the number cannot stand: pattlite-fer2013 (" in answer


def test_tables_show_runs_by_their_titles():
    frame = pd.DataFrame({"run": ["vgg_cpu_long_seed1"], "model": ["vgg_cpu"],
                          "members": ["exp_base_seed0, resemotenet_s_cyclic_snap004"], "runs": [("vgg_cpu",)]})
    shown = tables.table(frame).frame
    assert list(shown.iloc[0]) == ["VGG-CPU, 40 epochs, seed 1", "vgg_cpu",  # a model column keeps the model
                                   "experiment base (12 epochs), seed 0; ResEmoteNet at 1/8 width, cyclic "
                                   "learning rate, snapshot of epoch 4", "VGG-CPU, 16 epochs"]
