"""What the per-paper chapters (notebooks 03-05) show, computed: model summaries, run configs and run
metrics, the claim rows of one paper, deviation notes taken from the model docstrings, and the snapshot
ensemble of a run. Nothing here trains or builds a model: the chapters train through
``fer_study.train.named_runs`` and run the PAtt-Lite demonstration from ``fer_study.models.pattlite``.

Every function returns plain data (a DataFrame, a list of runs, markdown text) and says plainly when there
is no committed run yet, so the notebooks stay a few lines per cell and need no branches.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from fer_study.analysis import ensemble
from fer_study.analysis.claims import ClaimSet, claims_frame, comparison_table, load_claims
from fer_study.analysis.verdicts import NO_COMMITTED_RUN as NO_RUN  # report.NO_RUN in the chapters
from fer_study.analysis.verdicts import UNDERFIT
from fer_study.book.ensemble_tables import results_table
from fer_study.models import model_info, parameter_count
from fer_study.runs import (
    Run,
    accuracy,
    best_on_validation,
    committed_runs,
    has_tta,
    load_runs,
    params_file,
    run_title,
    underfit_reasons,
    underfit_runs,
)
from fer_study.train.config import TrainConfig

DEVIATION_HEADINGS = ("Deliberate deviations", "Deviation")
# The settings that tell the study's runs apart; momentum, augmentation and the rest are in the configs.
RECIPE_COLUMNS = ["model", "dataset", "label_mode", "train_splits", "parent", "optimizer", "lr",
                  "weight_decay", "batch_size", "epochs", "scheduler", "early_stopping_patience",
                  "snapshot_epochs", "tta", "precision"]
# What a chapter shows of its paper's claims and of its rows of the comparison table.
CLAIM_COLUMNS = ["id", "paper", "model", "ensemble", "dataset", "split", "metric", "value", "tta", "pretraining",
                 "extra_data", "notes"]
SECTION_COMPARISON_COLUMNS = ["claim", "paper", "model", "ensemble", "dataset", "split", "claimed", "reproduced",
                              "n_runs", "tier", "claim_tta", "run_tta", "verdict", "note"]
RUN_COLUMNS = ["run", "status", "model", "role", "tier", "device", "precision", "dataset", "label_mode",
               "class_weights", "train_splits", "parent", "epochs", "selected_epoch", "val_acc_pct", "test_acc_pct",
               "test_acc_tta_pct", "tta", "macro_f1_pct", "train_minutes"]


def paper_claims(claim_prefixes: tuple[str, ...], claims: ClaimSet | None = None) -> pd.DataFrame:
    """The claims whose id starts with one of ``claim_prefixes``, one row each, as a chapter shows them."""
    frame = claims_frame(claims)
    return frame[frame["id"].str.startswith(claim_prefixes)].reindex(columns=CLAIM_COLUMNS).reset_index(drop=True)


def scaled_variant_of(model_name: str, claims: ClaimSet | None = None) -> str | None:
    """The paper model a registered scaled variant shrinks (``claims.yaml``), or ``None``."""
    return (claims or load_claims()).scaled_variants.get(model_name)


def model_role(model_name: str, paper_model: bool, claims: ClaimSet | None = None) -> str:
    """How a model's numbers may be read against the papers' claims."""
    paper = scaled_variant_of(model_name, claims)
    if paper:
        return f"scaled variant of {paper}: not comparable with its claims"
    return "paper architecture" if paper_model else "the study's own model, not a paper's"


def model_summary(names: list[str]) -> pd.DataFrame:
    """One row per registered model, from its registration (``models.model_info``) and its parameter count:
    parameters, input size, whether it is a paper's model, and how its numbers may be compared."""
    claims = load_claims()
    rows = []
    for name in names:
        info = model_info(name)
        rows.append({"model": name, "params_M": parameter_count(name) / 1e6, "input_size": info.input_size,
                     "paper_model": info.paper_model, "role": model_role(name, info.paper_model, claims)})
    return pd.DataFrame(rows, columns=["model", "params_M", "input_size", "paper_model", "role"])


def deviation_notes(model_name: str) -> str:
    """Markdown: the deviation notes of the model's module docstring, from its "Deliberate deviations" (or
    "Deviation") paragraph to the end, as written there (RST double backquotes become markdown code)."""
    module = sys.modules[model_info(model_name).module]
    text = module.__doc__ or ""
    starts = [text.find(heading) for heading in DEVIATION_HEADINGS if heading in text]
    if not starts:
        return f"`{model_name}` ({module.__name__}) states no deviations from its paper."
    notes = text[min(starts):].strip().replace("``", "`")
    return f"**`{model_name}`** (from the docstring of `{module.__name__}`):\n\n{notes}"


def recipe_table(run_names: list[str], tiers: tuple[str, ...] = ("full", "cpu", "smoke")) -> pd.DataFrame:
    """The resolved training settings of each run, from the first tier in ``tiers`` that has its config."""
    rows = []
    for name in run_names:
        tier = next((tier for tier in tiers if params_file(name, tier).is_file()), None)
        if tier is None:
            rows.append({"run": name, "tier": "no config"})
            continue
        values = TrainConfig.from_yaml(params_file(name, tier), run_name=name).to_dict()  # defaults filled in
        rows.append({"run": name, "tier": tier, **{column: values[column] for column in RECIPE_COLUMNS}})
    frame = pd.DataFrame(rows, columns=["run", "tier", *RECIPE_COLUMNS])
    # As written in the configs: rates in their own notation, lists on one line, counts as integers.
    for column in ("lr", "weight_decay"):
        frame[column] = frame[column].map(lambda value: f"{value:g}" if pd.notna(value) else "")
    frame = frame.map(lambda value: ", ".join(map(str, value)) if isinstance(value, list) else value)
    return frame.astype({"batch_size": "Int64", "epochs": "Int64", "early_stopping_patience": "Int64"})


def runs_table(run_names: list[str], runs_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per requested run: its metrics (accuracies recomputed from ``predictions.npz``, in percent)
    when committed, else a row saying there is no committed run yet, or that the run is underfit and left to
    the appendix."""
    claims = load_claims()
    found = {run.name: run for run in committed_runs(run_names, runs_dir)}
    underfit = {run.name for run in underfit_runs(runs_dir, tiers=None)}
    rows = []
    for name in run_names:
        run = found.get(name)
        if run is None:
            rows.append({"run": name, "status": UNDERFIT if name in underfit else NO_RUN})
            continue
        metrics = run.metrics
        rows.append({
            "run": name, "status": "committed", "model": metrics.model,
            "role": model_role(metrics.model, metrics.paper_model, claims),
            "tier": metrics.tier, "device": metrics.device, "precision": metrics.precision,
            "dataset": metrics.dataset,
            "label_mode": metrics.label_mode, "class_weights": bool(run.config.get("class_weights")),
            "train_splits": ", ".join(metrics.train_splits),
            "parent": metrics.parent, "epochs": metrics.epochs,
            "selected_epoch": metrics.selected_epoch,
            "val_acc_pct": 100 * accuracy(run, "val"),
            "test_acc_pct": 100 * accuracy(run, "test"),
            "test_acc_tta_pct": (100 * accuracy(run, "test", tta=True) if has_tta(run)
                                 else np.nan),
            "tta": metrics.tta,
            "macro_f1_pct": 100 * metrics.macro_f1,
            "train_minutes": metrics.train_seconds / 60,
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def underfit_table(run_names: list[str], runs_dir: str | Path | None = None) -> pd.DataFrame:
    """Why runs are not evidence: per committed run among ``run_names`` that ``runs.underfit_reasons`` calls
    underfit, its final training accuracy, its test accuracy (%) and the reasons."""
    wanted = set(run_names)
    rows = [{"run": run.name, "model": run.metrics.model, "epochs": run.metrics.epochs,
             "final_train_acc_pct": 100 * run.history["train_accuracy"].iloc[-1] if len(run.history) else np.nan,
             "test_acc_pct": 100 * accuracy(run, "test"), "why_not_evidence": "; ".join(underfit_reasons(run))}
            for run in underfit_runs(runs_dir, tiers=None) if run.name in wanted]
    return pd.DataFrame(rows, columns=["run", "model", "epochs", "final_train_acc_pct", "test_acc_pct",
                                       "why_not_evidence"])


def best_confusion(runs: list[Run], dataset: str) -> tuple[list | None, str]:
    """The test confusion matrix of the best-on-validation run of ``dataset`` and a title for it, or
    ``(None, a title saying there is no committed run)``."""
    run = best_on_validation(runs, dataset)
    if run is None:
        return None, f"{dataset}: {NO_RUN}"
    return run.metrics.test_confusion, (f"{dataset}, {run_title(run.name)} (best on validation): test accuracy "
                                        f"{100 * accuracy(run, 'test'):.2f} % without TTA")


def comparison_rows(table: pd.DataFrame, claim_prefixes: tuple[str, ...],
                    models: tuple[str, ...]) -> pd.DataFrame:
    """The rows of ``claims.comparison_table`` about one paper: claims whose id starts with one of
    ``claim_prefixes``, and the rows of runs of ``models`` that no claim is about."""
    about_claim = table["claim"].fillna("").str.startswith(claim_prefixes)
    unclaimed = table["claim"].isna() & table["model"].isin(models)
    return table[about_claim | unclaimed].reset_index(drop=True)


def paper_comparison(claim_prefixes: tuple[str, ...], models: tuple[str, ...],
                     runs_dir: str | Path | None = None, claims: ClaimSet | None = None,
                     bootstrap_samples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One chapter's rows of the study's comparison table (``comparison_rows`` of
    ``claims.comparison_table``), every column a chapter needs to read a verdict, plotting ones included."""
    table = comparison_table(runs_dir, claims, bootstrap_samples=bootstrap_samples, seed=seed)
    return comparison_rows(table, claim_prefixes, models)


def snapshot_table(run_names: list[str], runs_dir: str | Path | None = None, bootstrap_samples: int = 1000,
                   seed: int = 0) -> pd.DataFrame:
    """The snapshot ensemble (mean softmax, without and with TTA) of every run among ``run_names`` that
    has committed snapshot runs, as ``ensemble_tables.results_table`` rows; empty when there is none."""
    runs = [run for run in load_runs(runs_dir, tiers=None)
            if run.name in run_names or run.snapshot_of in run_names]
    results = []
    for group, group_runs in ensemble.evaluation_groups(runs).items():
        for tta in (False, True):
            named, _ = ensemble.named_ensembles(group, group_runs, tta)
            results += [ensemble.evaluate(candidate, "mean", bootstrap_samples, seed) for candidate in named
                        if candidate.name.startswith(ensemble.SNAPSHOT)]
    return results_table(results)
