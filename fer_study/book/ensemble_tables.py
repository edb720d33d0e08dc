"""The ensemble chapter's tables: one row per member run (what it is, its accuracies, its cost) and one per
ensemble and combiner (``fer_study.analysis.ensemble.evaluate`` results in percent, with intervals and cost), and the
points of its accuracy-vs-cost figure. The ensembles themselves are computed in ``fer_study.analysis.ensemble``.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fer_study.analysis import ensemble
from fer_study.analysis.distillation import DistillationResult
from fer_study.analysis.ensemble import EnsembleResult
from fer_study.bench.cost import COST_COMMAND, committed_costs
from fer_study.core.constants import CLASS_NAMES
from fer_study.runs import Run, accuracy, has_tta


def member_table(runs: Sequence[Run], costs: pd.Series | None = None) -> pd.DataFrame:
    """One row per run: what it is, its accuracies (recomputed from predictions.npz) and its cost, the CPU
    ms per image of its model in ``costs`` (default: the committed ``python -m fer_study.bench cost`` file)."""
    costs = committed_costs() if costs is None else costs
    rows = []
    for run in runs:
        model = run.metrics.model
        note = "" if model in costs.index else f"CPU time of {model} not measured: run `{COST_COMMAND}`"
        rows.append({
            "run": run.name, "model": model, "dataset": run.metrics.dataset,
            "tier": run.metrics.tier, "device": run.metrics.device,
            "seed": run.metrics.seed, "parent": run.metrics.parent,
            "params": run.metrics.params, "tta": run.metrics.tta,
            "val_acc_pct": 100 * accuracy(run, "val"),
            "test_acc_pct": 100 * accuracy(run, "test"),
            "test_acc_tta_pct": 100 * accuracy(run, "test", tta=True) if has_tta(run) else np.nan,
            "cpu_ms_per_image": costs.get(model, np.nan),
            "note": note,
        })
    columns = ["run", "model", "dataset", "tier", "device", "seed", "parent", "params", "tta", "val_acc_pct",
               "test_acc_pct", "test_acc_tta_pct", "cpu_ms_per_image", "note"]
    # Nullable integers: a run without a parameter count shows blank, not as a float.
    return pd.DataFrame(rows, columns=columns).astype({"params": "Int64"})


def results_table(results: Sequence[EnsembleResult], members: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per ensemble and combiner: accuracy with its interval, gain over the best member with its
    paired interval, macro-F1, per-class recall and, when ``members`` (``member_table``) is given, cost.

    Accuracies are in percent, gains in percentage points. Cost is summed over members: total
    parameters and CPU ms per image for one view (TTA multiplies it by the number of views).
    """
    cost = members.set_index("run") if members is not None and len(members) else None
    rows = []
    for result in results:
        names = result.ensemble.member_names
        fitted = result.combiner == "weighted"
        weights = ", ".join(f"{weight:.2f}" for weight in result.weights) if fitted else ""
        row = {
            "group": result.ensemble.group, "ensemble": result.ensemble.title, "combiner": result.combiner,
            "tta": result.ensemble.tta, "n_members": len(names), "members": ", ".join(names),
            "weights": weights,
            "val_acc_pct": 100 * result.val_accuracy,
            "test_acc_pct": 100 * result.test["accuracy"],
            "test_acc_low": 100 * result.accuracy_interval[0],
            "test_acc_high": 100 * result.accuracy_interval[1],
            "macro_f1_pct": 100 * result.test["macro_f1"],
            "best_member": result.best_member,
            "best_member_test_acc_pct": 100 * result.best_member_test_accuracy,
            "gain_pp": 100 * result.gain,
            "gain_low": 100 * result.gain_interval[0], "gain_high": 100 * result.gain_interval[1],
        }
        row |= {f"recall_{name}": 100 * result.test["per_class"][name]["recall"] for name in CLASS_NAMES}
        if cost is not None:
            # min_count: a member without a parameter count or timing makes the total unknown, not smaller.
            row["params"] = cost.loc[names, "params"].astype(float).sum(min_count=len(names))
            row["cpu_ms_per_image"] = cost.loc[names, "cpu_ms_per_image"].sum(min_count=len(names))
        rows.append(row)
    columns = ["group", "ensemble", "combiner", "tta", "n_members", "members", "weights", "val_acc_pct",
               "test_acc_pct", "test_acc_low", "test_acc_high", "macro_f1_pct", "best_member",
               "best_member_test_acc_pct", "gain_pp", "gain_low", "gain_high",
               *(f"recall_{name}" for name in CLASS_NAMES)]
    if cost is not None:
        columns += ["params", "cpu_ms_per_image"]
        return pd.DataFrame(rows, columns=columns).astype({"params": "Int64"})
    return pd.DataFrame(rows, columns=columns)


# A member list longer than this is shown by its count: the "all runs" ensembles hold every run of a group.
LISTED_MEMBERS = 10


def for_reading(table: pd.DataFrame) -> pd.DataFrame:
    """``results_table`` as a chapter shows it: a member list of more than ``LISTED_MEMBERS`` runs by its count
    (the committed-runs table lists them), and its fitted weights, which need the list to be read, as a count
    too, so that one cell does not fill the screen."""
    many = table["n_members"] > LISTED_MEMBERS
    weighted = many & (table["weights"] != "")
    return table.assign(members=table["members"].where(~many, "every run of the group"),
                        weights=table["weights"].where(~weighted, table["n_members"].astype(str) + " weights "
                                                       "fitted on validation"))


COST_COLUMNS = ["label", "kind", "test_acc_pct", "params", "cpu_ms_per_image"]


def cost_points(members: pd.DataFrame, table: pd.DataFrame, labels: str = ensemble.FER2013_LABELS) -> pd.DataFrame:
    """Members and mean-softmax ensembles scored on ``labels`` as points for an accuracy-vs-cost plot (test
    accuracy without TTA; the other combiners cost the same): one label set per axis."""
    def on_labels(datasets: pd.Series) -> pd.Series:
        return datasets.map(lambda name: ensemble.label_set(str(name)) == labels).astype(bool)

    members = members.loc[on_labels(members["dataset"])]
    plain = table.loc[~table["tta"].astype(bool) & (table["combiner"] == "mean") & on_labels(table["group"])]
    frames = [members.assign(kind="single model", label=members["run"]),
              plain.assign(kind="ensemble (mean)", label=plain["ensemble"])]
    frames = [frame[COST_COLUMNS] for frame in frames if len(frame)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COST_COLUMNS)


def distillation_table(results: Sequence[DistillationResult]) -> pd.DataFrame:
    """One row per distilled student: its teachers and their ensemble's accuracy, the student's, and its gain
    over its undistilled twin (same recipe and seed) with the paired 95 % interval; percent and points."""
    rows = [{
        "student": result.student.name, "params": result.student.metrics.params,
        "temperature": result.student.config.get("distill_temperature"),
        "distill_weight": result.student.config.get("distill_weight"),
        "teachers": ", ".join(run.name for run in result.teachers),
        "missing_teachers": ", ".join(result.missing_teachers),
        "teachers_test_acc_pct": 100 * result.teacher_test_accuracy,
        "student_val_acc_pct": 100 * accuracy(result.student, "val"),
        "student_test_acc_pct": 100 * accuracy(result.student, "test"),
        "twin": result.twin.name if result.twin is not None else "",
        "twin_test_acc_pct": 100 * accuracy(result.twin, "test") if result.twin is not None else np.nan,
        "gain_pp": 100 * result.gain, "gain_low": 100 * result.gain_interval[0],
        "gain_high": 100 * result.gain_interval[1],
    } for result in results]
    columns = ["student", "params", "temperature", "distill_weight", "teachers", "missing_teachers",
               "teachers_test_acc_pct", "student_val_acc_pct", "student_test_acc_pct", "twin", "twin_test_acc_pct",
               "gain_pp", "gain_low", "gain_high"]
    return pd.DataFrame(rows, columns=columns).astype({"params": "Int64"})
