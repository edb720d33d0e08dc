"""The comparison table: the claims (``fer_study.analysis.claims.schema``) joined with the committed runs into the one
table the book shows, the verdicts and the numbers the discussion quotes.

A claim is compared with a reproduction only under the claim's own dataset; every protocol difference
(split, test-time augmentation, pretraining, extra data) is written next to the numbers, and a scaled CPU
variant is shown beside its paper's claim but never compared with it.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from fer_study.analysis import ensemble
from fer_study.analysis.claims.schema import MULTI_VIEW_TTA, ClaimSet, load_claims, reference_level
from fer_study.analysis.verdicts import (
    HELD,
    MEASURED,
    NO_CLAIM,
    NO_MODEL_HERE,
    NO_RUN,
    NOT_COMPARABLE,
    NOT_COMPARABLE_BUDGET,
    NOT_REPRODUCED,
    REFERENCE,
    VERDICTS,
)
from fer_study.core.metrics import accuracy_half_width
from fer_study.runs import (
    RESULT_TIERS,
    Run,
    accuracy,
    best_on_validation,
    has_tta,
    load_runs,
    run_title,
    run_titles_text,
)

# Tiers whose runs of a paper's model train on a fraction of its recipe's budget (params/cpu/runs: at most
# two hours on two CPU cores): shown beside the claim, never judged against it.
BUDGET_TIERS = ("cpu", "smoke")
# The split every run is tested on (constants.USAGE_TO_SPLIT: PrivateTest is the test split).
RUN_TEST_SPLIT = "PrivateTest"
# Between run titles inside a note, whose parts are joined by "; " (and titles hold commas).
RUN_SEPARATOR = " + "

COMPARISON_COLUMNS = ["claim", "paper", "model", "ensemble", "dataset", "split", "metric", "claimed",
                      "reproduced", "spread", "n_runs", "difference", "tier", "device", "claim_tta",
                      "run_tta", "pretraining", "extra_data", "verdict", "note", "runs"]


def _claim_fields(claim: dict) -> dict:
    return {"claim": claim["id"], "paper": claim["paper"], "model": claim["model"],
            "ensemble": claim.get("ensemble"), "dataset": claim["dataset"],
            "split": claim["split"], "metric": claim["metric"], "claimed": float(claim["value"]),
            "claim_tta": claim["protocol"]["tta"], "pretraining": claim["pretraining"],
            "extra_data": claim["extra_data"]}


def _wants_tta(claim: dict) -> bool:
    return claim["protocol"]["tta"] in MULTI_VIEW_TTA


def _protocol_notes(claim: dict, run_tta: set[str] | None, claims: ClaimSet) -> list[str]:
    """How the claim's protocol differs from the runs' (``run_tta=None``: no runs, only the claim's side)."""
    notes = []
    if claim["split"] != RUN_TEST_SPLIT:
        notes.append(f"claimed on {claim['split']} split; runs are tested on {RUN_TEST_SPLIT}")
    tta = claim["protocol"]["tta"]
    run_side = f"; reproduced with {', '.join(sorted(run_tta))}" if run_tta else ""
    if tta == "unclear":
        notes.append("claim's TTA not stated")
    elif tta not in claims.tta_equivalents:
        notes.append(f"claim used {tta} TTA, which has no equivalent here{run_side}")
    elif run_tta and run_tta != {claims.tta_equivalents[tta]}:
        notes.append(f"claim used {tta} TTA{run_side}")
    if claim["pretraining"] not in ("none", "unclear", "unknown"):
        notes.append(f"claim starts from {claim['pretraining']}")
    if claim["extra_data"] != "none":
        notes.append(f"claim's extra data: {claim['extra_data']}")
    return notes


def _verdict(claimed: float, reproduced: float, margin: float, comparable: bool, budget: bool = False) -> str:
    if not comparable:
        return NOT_COMPARABLE
    if budget:
        return NOT_COMPARABLE_BUDGET
    return HELD if claimed <= reproduced + margin else NOT_REPRODUCED


def _joined(values) -> str:
    return ", ".join(sorted({str(value) for value in values}))


# Settings that do not make another recipe: runs differing only in these are seeds of one recipe.
SEED_SETTINGS = {"run_name", "seed", "num_threads", "device"}


def _recipe(run: Run) -> tuple[str, str, str, str, str]:
    """(model, model options, tier, training splits, the whole recipe): runs whose configs differ only in
    ``SEED_SETTINGS`` are seeds of one recipe."""
    model_kwargs = run.config.get("model_kwargs") or {}
    options = ", ".join(f"{key}={value}" for key, value in sorted(model_kwargs.items()))
    recipe = json.dumps({k: v for k, v in run.config.items() if k not in SEED_SETTINGS}, sort_keys=True, default=str)
    return (run.metrics.model, options, run.metrics.tier, "+".join(run.metrics.train_splits), recipe)


def _recipe_notes(options: str, train_splits: str) -> list[str]:
    return ([f"model options: {options}"] if options else []) + (
        [] if train_splits == "train" else [f"trained on {train_splits}"])


def _run_rows(claim: dict, runs: list[Run], claims: ClaimSet) -> list[dict]:
    """One row per recipe (runs whose configs differ only in the seed): the mean and spread over its runs."""
    rows = []
    groups: dict[tuple[str, str, str, str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault(_recipe(run), []).append(run)
    for (model, options, tier, train_splits, _), members in sorted(groups.items()):
        use_tta = _wants_tta(claim) and all(has_tta(run) for run in members)
        run_tta = {run.metrics.tta for run in members} if use_tta else {"none"}
        accuracies = 100 * np.array([accuracy(run, "test", use_tta) for run in members])
        reproduced = float(accuracies.mean())
        margin = 100 * accuracy_half_width(reproduced / 100, len(members[0].labels("test")))
        notes = [f"runs: {run_titles_text((run.name for run in members), RUN_SEPARATOR)}",
                 *_recipe_notes(options, train_splits), *_protocol_notes(claim, run_tta, claims)]
        comparable = model == claim["model"] and all(run.metrics.paper_model for run in members)
        if not comparable:
            why = f"scaled variant of {claim['model']}" if model != claim["model"] else "its runs say so"
            notes.insert(0, f"{model} is not the paper's model ({why}): shown, not compared")
        budget = comparable and tier in BUDGET_TIERS
        if budget:
            notes.insert(1, f"the paper's model on a {tier}-tier budget, a fraction of its recipe: shown, "
                            "not judged against the claim")
        rows.append(_claim_fields(claim) | {
            "model": model, "reproduced": reproduced,
            "spread": float(accuracies.std(ddof=1)) if len(accuracies) > 1 else np.nan,
            "n_runs": len(members), "difference": reproduced - claim["value"] if comparable else np.nan,
            "tier": tier, "device": _joined(run.metrics.device for run in members),
            "run_tta": _joined(run_tta), "note": "; ".join(notes), "runs": tuple(run.name for run in members),
            "verdict": _verdict(claim["value"], reproduced, margin, comparable, budget)})
    return rows


def _ensemble_rows(claim: dict, runs: list[Run], claims: ClaimSet, bootstrap_samples: int,
                   seed: int) -> list[dict]:
    """One row per named ensemble of the claim's kind that the claim's dataset's runs allow."""
    runs = [run for run in runs if run.metrics.dataset == claim["dataset"]]
    models = _claim_models(claim, claims)
    rows = []
    for group, group_runs in ensemble.evaluation_groups(runs).items():
        found = []
        for tta in ([True, False] if _wants_tta(claim) else [False]):
            named, _ = ensemble.named_ensembles(group, group_runs, tta)
            found = [candidate for candidate in named if candidate.name.startswith(claim["ensemble"])
                     and (claim["model"] is None
                          or all(run.metrics.model in models for run in candidate.members))]
            if found:
                break
        for candidate in found:
            result = ensemble.evaluate(candidate, "mean", bootstrap_samples, seed)
            members = candidate.members
            run_tta = {run.metrics.tta for run in members} if candidate.tta else {"none"}
            if claim["metric"] == "gain":
                reproduced, margin = 100 * result.gain, 100 * (result.gain_interval[1] - result.gain)
            else:
                reproduced = 100 * result.test["accuracy"]
                margin = 100 * accuracy_half_width(result.test["accuracy"], len(members[0].labels("test")))
            comparable = all(run.metrics.paper_model for run in members)
            titles = run_titles_text(candidate.member_names, RUN_SEPARATOR)
            notes = [f"{candidate.name}: {len(members)} members ({titles})",
                     *_protocol_notes(claim, run_tta, claims)]
            if not comparable:
                notes.insert(0, "members are not the paper's models (scaled variants): shown, not compared")
            rows.append(_claim_fields(claim) | {
                "ensemble": candidate.name, "reproduced": reproduced, "spread": np.nan,
                "n_runs": len(members),
                "difference": reproduced - claim["value"] if comparable else np.nan,
                "tier": _joined(run.metrics.tier for run in members),
                "device": _joined(run.metrics.device for run in members),
                "run_tta": _joined(run_tta), "note": "; ".join(notes), "runs": tuple(candidate.member_names),
                "verdict": _verdict(claim["value"], reproduced, margin, comparable)})
    return rows


def _claim_models(claim: dict, claims: ClaimSet) -> set[str]:
    """The claim's model and its scaled variants (shown beside it, never compared)."""
    return {claim["model"]} | {variant for variant, paper in claims.scaled_variants.items()
                               if paper == claim["model"]}


def _matches(run: Run, claim: dict, models: set[str]) -> bool:
    # A claim's ``match`` names metrics.json keys, each read as its typed property (a misspelt one raises).
    return (run.metrics.model in models and run.metrics.dataset == claim["dataset"]
            and all(getattr(run.metrics, key) == value for key, value in claim.get("match", {}).items()))


def _unclaimed_rows(runs: list[Run]) -> list[dict]:
    """Runs that no claim is about (the study's own models, fine-tuned baselines, ...), per dataset and
    recipe."""
    groups: dict[tuple[str, tuple[str, str, str, str, str]], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.metrics.dataset, _recipe(run)), []).append(run)
    rows = []
    for (dataset, (model, options, tier, train_splits, _)), members in sorted(groups.items()):
        notes = [f"runs: {run_titles_text((run.name for run in members), RUN_SEPARATOR)}",
                 *_recipe_notes(options, train_splits)]
        if not all(run.metrics.paper_model for run in members):
            notes.append("the study's own or a scaled model, not a paper's")
        accuracies = 100 * np.array([accuracy(run, "test") for run in members])
        rows.append({"claim": None, "paper": None, "model": model, "dataset": dataset,
                     "split": RUN_TEST_SPLIT, "metric": "accuracy", "reproduced": float(accuracies.mean()),
                     "spread": float(accuracies.std(ddof=1)) if len(accuracies) > 1 else np.nan,
                     "n_runs": len(members), "tier": tier,
                     "device": _joined(run.metrics.device for run in members), "run_tta": "none",
                     "verdict": NO_CLAIM, "note": "; ".join(notes), "runs": tuple(run.name for run in members)})
    return rows


def comparison_table(runs_dir: str | Path | None = None, claims: ClaimSet | None = None,
                     tiers=RESULT_TIERS, bootstrap_samples: int = 1000,
                     seed: int = 0) -> pd.DataFrame:
    """Claimed vs reproduced: one row per claim (and per tier that reproduced it), then the runs no claim
    is about. Accuracies in percent, gains in points; reproduced values come from ``predictions.npz``.

    ``verdict``: *held* when the claim lies within the 95 % sampling margin of the reproduction or below
    it (the margin is the normal-approximation half-width of an accuracy on the test images, or the paired
    bootstrap interval of a gain); *not reproduced* otherwise; *not comparable* for a scaled variant;
    *no run* when the study has the model but no committed run; *no model here* when it does not build
    the model; *reference* for reference levels. ``runs``: the names of the runs (an ensemble's members) a
    row was computed from, as a tuple, so a reader never parses them back out of ``note``.
    """
    claims = claims or load_claims()
    runs = load_runs(runs_dir, tiers)
    # Snapshots are checkpoints of a run, not runs of their own: they count only in snapshot ensembles.
    final_runs = [run for run in runs if not run.snapshot_of]
    rows, used = [], set()
    for claim in claims.claims:
        if claim.get("ensemble"):
            claim_rows = _ensemble_rows(claim, runs, claims, bootstrap_samples, seed)
        elif claim["model"]:
            matched = [run for run in final_runs if _matches(run, claim, _claim_models(claim, claims))]
            used |= {run.name for run in matched}
            claim_rows = _run_rows(claim, matched, claims)
        else:
            claim_rows = []
        if not claim_rows:
            verdict = (REFERENCE if claim.get("reference")
                       else NO_RUN if claim["model"] or claim.get("ensemble") else NO_MODEL_HERE)
            notes = _protocol_notes(claim, None, claims)
            claim_rows = [_claim_fields(claim) | {"n_runs": 0, "verdict": verdict, "note": "; ".join(notes),
                                                  "runs": ()}]
        rows += claim_rows
    rows += _unclaimed_rows([run for run in final_runs if run.name not in used])
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def _unit(metric: str) -> str:
    return "points" if metric == "gain" else "%"


def _format_reproduced(row: pd.Series) -> str:
    spread = f" ± {row['spread']:.2f}" if pd.notna(row["spread"]) else ""
    runs = f"{int(row['n_runs'])} run{'s' if row['n_runs'] != 1 else ''}"
    where = f"{runs}, {row['tier']} tier, {row['device']}"
    return f"{row['reproduced']:.2f}{spread} {_unit(row['metric'])} ({where})"


def _verdict_counts(table: pd.DataFrame) -> str:
    counts = table.loc[table["claim"].notna(), "verdict"].value_counts()
    return ", ".join(f"{counts[verdict]} {verdict}" for verdict in VERDICTS if verdict in counts)


VERDICT_TABLE_COLUMNS = ["claim", "paper", "claimed", "measured", "verdicts", "known_problems"]


def verdict_text(table: pd.DataFrame, claims: ClaimSet | None = None) -> str:
    """Markdown: how many comparison rows have each verdict (``verdict_table`` gives them claim by claim)."""
    claims = claims or load_claims()
    summary = _verdict_counts(table)
    if not table["verdict"].isin(MEASURED).any():
        return (f"**{ensemble.NO_RUNS}** None of the {table['claim'].nunique()} claims has been checked by "
                f"this study yet (rows by verdict: {summary}).")
    return f"Rows by verdict: {summary}. Claim by claim, with the claim's known problems:"


def verdict_table(table: pd.DataFrame, claims: ClaimSet | None = None) -> pd.DataFrame:
    """One row per claim checked by a committed run: the claim, what was measured (each recipe's result,
    ``_format_reproduced``), the verdicts, and the claim's known problems, stated once."""
    claims = claims or load_claims()
    checked = table[table["verdict"].isin(MEASURED)]
    rows = []
    for claim_id, group in checked.groupby("claim", sort=False):
        claim = claims.by_id(claim_id)
        first = group.iloc[0]
        rows.append({"claim": claim_id, "paper": claim["paper"],
                     "claimed": f"{first['claimed']:g} {_unit(first['metric'])} on {first['split']}",
                     "measured": "; ".join(_format_reproduced(row) for _, row in group.iterrows()),
                     "verdicts": ", ".join(dict.fromkeys(group["verdict"])), "known_problems": claim["notes"]})
    return pd.DataFrame(rows, columns=VERDICT_TABLE_COLUMNS)


NOT_AVAILABLE = "n/a"


def discussion_numbers(runs: list[Run], table: pd.DataFrame, results: list[ensemble.EnsembleResult],
                       claims: ClaimSet | None = None) -> dict[str, str]:
    """The numbers the discussion quotes, formatted for MyST-NB glue; every one computed from the runs,
    the comparison table (``comparison_table``), the ensemble results (``ensemble.evaluate_all``) or
    the claims. Numbers that need runs read ``NOT_AVAILABLE`` while there are none."""
    claims = claims or load_claims()
    human, human_uncertainty = reference_level("human", claims)
    # The standard protocol only: claims on other splits are not the same benchmark.
    standard = table[table["claim"].notna() & (table["metric"] == "accuracy")
                     & (table["dataset"] == "fer2013") & (table["split"] == RUN_TEST_SPLIT)
                     & (table["verdict"] != REFERENCE)]
    best_claim = standard.loc[standard["claimed"].idxmax()]
    single_claims = standard[standard["ensemble"].isna()]
    best_single_claim = single_claims.loc[single_claims["claimed"].idxmax()]
    numbers = {
        "runs_status": (f"The figures below come from the {len(runs)} committed runs." if runs else
                        f"**{ensemble.NO_RUNS}** Every figure that needs a run reads {NOT_AVAILABLE}."),
        "runs_count": str(len(runs)),
        "tiers": _joined(run.metrics.tier for run in runs) or NOT_AVAILABLE,
        "devices": _joined(run.metrics.device for run in runs) or NOT_AVAILABLE,
        "claims_total": str(table["claim"].nunique()),
        "verdict_counts": _verdict_counts(table),
        "human_accuracy": f"{human:g} ± {human_uncertainty:g} %",
        "best_claim": f"{best_claim['claimed']:.2f} % ({best_claim['paper']}, {best_claim['claim']})",
        "best_single_claim": f"{best_single_claim['claimed']:.2f} % ({best_single_claim['paper']}, "
                             f"{best_single_claim['claim']})",
        "pretrained_claims": str(sum(claim["pretraining"] not in ("none", "unclear", "unknown")
                                     for claim in claims.claims)),
    }
    # The best single model is chosen on validation, separately without and with TTA, so the quoted test
    # accuracy is honest and a single-view number is never compared with a multi-view one.
    single_runs = [run for run in runs if not run.snapshot_of]
    best = {tta: best_on_validation(single_runs, "fer2013", tta) for tta in (False, True)}
    if best[False] is None:
        numbers |= dict.fromkeys(("best_single", "best_single_tta", "best_single_vs_human",
                                  "best_single_vs_best_claim", "test_margin"), NOT_AVAILABLE)
    else:
        test_accuracy = {tta: 100 * accuracy(run, "test", tta) for tta, run in best.items()
                         if run is not None}
        test_images = len(best[False].labels("test"))
        margin = 100 * accuracy_half_width(test_accuracy[False] / 100, test_images)
        numbers |= {
            "test_margin": f"±{margin:.2f} points ({test_images} test images)",
            "best_single": f"{run_title(best[False].name)} ({best[False].metrics.model}): "
                           f"{test_accuracy[False]:.2f} % on {RUN_TEST_SPLIT}, single view",
            "best_single_tta": (f"{run_title(best[True].name)} ({best[True].metrics.tta} TTA), "
                                f"{test_accuracy[True]:.2f} %" if best[True] is not None else NOT_AVAILABLE),
            "best_single_vs_human": f"{test_accuracy[False] - human:+.2f} points",
        }
        # Against the best single-model claim, like with like: our TTA accuracy when the claim used TTA.
        claim_tta = best_single_claim["claim_tta"] in MULTI_VIEW_TTA and True in test_accuracy
        ours = test_accuracy[claim_tta]
        numbers["best_single_vs_best_claim"] = (f"{ours - best_single_claim['claimed']:+.2f} points "
                                                f"({'with' if claim_tta else 'without'} TTA on both sides)")
    best_ensemble = ensemble.best_result(results)
    if best_ensemble is None:
        numbers |= dict.fromkeys(("best_ensemble", "best_ensemble_gain", "gain_conclusion"), NOT_AVAILABLE)
    else:
        low, high = (100 * bound for bound in best_ensemble.gain_interval)
        numbers |= {
            "best_ensemble": f"{ensemble.label(best_ensemble)}: {100 * best_ensemble.test['accuracy']:.2f} % "
                             f"on {RUN_TEST_SPLIT}",
            "best_ensemble_gain": f"{100 * best_ensemble.gain:+.2f} points [{low:+.2f}, {high:+.2f}] over "
                                  f"{run_title(best_ensemble.best_member)}",
            "gain_conclusion": ("the interval excludes zero: a real gain" if low > 0
                                else "the interval includes zero: no evidence of a gain" if high >= 0
                                else "the interval lies below zero: the ensemble is worse"),
        }
    return numbers
