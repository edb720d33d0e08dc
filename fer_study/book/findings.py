"""The front page's findings, generated from the committed files in the order a reader needs them: which
published FER2013 numbers are comparable at all, the best single model and ensemble trained here (with
intervals, cost per face and the public-code reruns beside them), one line per research question, and which
paper models still wait for their recipes.

Everything is computed from the leaderboard file, the claims and the committed run folders; nothing typed.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Markdown

from fer_study.analysis import ensemble, experiments, leaderboard
from fer_study.bench.cost import committed_costs
from fer_study.core import paths
from fer_study.core.metrics import bootstrap_accuracy
from fer_study.models import list_models, model_info
from fer_study.runs import RESULT_TIERS, Run, accuracy, best_on_validation, recipe_and_seed, run_title

# The command that trains the paper recipes on a lent GPU (the Makefile's full-tier target, README).
FULL_TIER_COMMAND = "make full-tier BUDGET=450 OUT=out/"
BEST_MODEL_COLUMNS = ["kind", "what", "test_acc_pct", "test_acc_low", "test_acc_high", "val_acc_pct",
                      "seeds", "params", "cpu_ms_per_face"]


def fer2013_runs(runs: Sequence[Run]) -> list[Run]:
    """The runs scored on FER2013's labels (``ensemble.label_set``): FER+ runs answer on their own labels."""
    return [run for run in runs if ensemble.label_set(run.metrics.dataset) == ensemble.FER2013_LABELS]


def _seed_count(run: Run, runs: Sequence[Run]) -> int:
    recipe, seed = recipe_and_seed(run.name)
    return 1 if seed is None else sum(recipe_and_seed(other.name)[0] == recipe for other in runs)


def _cost(members: Sequence[Run], costs: pd.Series) -> tuple[int, float]:
    """Summed parameters and CPU milliseconds per face (one 48x48 face, batch of one) of ``members``, from
    ``costs`` (the committed ``python -m fer_study.bench cost`` file; NaN when a member's model is not in it)."""
    return (sum(run.metrics.params for run in members),
            float(sum(costs.get(run.metrics.model, np.nan) for run in members)))


def best_models(runs: Sequence[Run], results: Sequence[ensemble.EnsembleResult], bootstrap_samples: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """The best single run and the best ensemble on FER2013's labels, each chosen on validation (PublicTest),
    with the 95 % bootstrap interval of its PrivateTest accuracy, how many seeds its recipe has, and its cost:
    parameters and CPU milliseconds per face (``_cost``)."""
    rows = []
    costs = committed_costs()
    single = best_on_validation(fer2013_runs(runs))
    if single is not None:
        low, high = bootstrap_accuracy(single.labels("test"), single.logits("test"), bootstrap_samples, seed=seed)
        params, cost = _cost([single], costs)
        rows.append({"kind": "best single model", "what": f"{run_title(single.name)} ({single.metrics.model})",
                     "test_acc_pct": 100 * accuracy(single, "test"), "test_acc_low": 100 * low,
                     "test_acc_high": 100 * high, "val_acc_pct": 100 * accuracy(single, "val"),
                     "seeds": _seed_count(single, runs), "params": params, "cpu_ms_per_face": cost})
    best = ensemble.best_result(results, ensemble.FER2013_LABELS)
    if best is not None:
        params, cost = _cost(best.ensemble.members, costs)
        rows.append({"kind": "best ensemble", "what": f"{ensemble.label(best)}: {len(best.ensemble.members)} "
                     f"members, {100 * best.gain:+.1f} points [{100 * best.gain_interval[0]:+.1f}, "
                     f"{100 * best.gain_interval[1]:+.1f}] over its best member",
                     "test_acc_pct": 100 * best.test["accuracy"], "test_acc_low": 100 * best.accuracy_interval[0],
                     "test_acc_high": 100 * best.accuracy_interval[1], "val_acc_pct": 100 * best.val_accuracy,
                     "seeds": np.nan, "params": params, "cpu_ms_per_face": cost})
    return pd.DataFrame(rows, columns=BEST_MODEL_COLUMNS).astype({"params": "Int64"})


def best_models_text(best: pd.DataFrame, entries: pd.DataFrame) -> Markdown:
    """The best single model and ensemble in words, with the public-code reruns of comparable published
    models beside them (``leaderboard.entries_frame``'s ``reproduced_low``/``high``)."""
    if best.empty:
        return Markdown("**No model is trained here yet.**")
    said = []
    for _, row in best.iterrows():
        seeds = "" if pd.isna(row["seeds"]) else (" (one seed: its spread over seeds is not measured)"
                                                   if row["seeds"] == 1 else f" (its recipe has {row['seeds']} seeds)")
        said.append(f"The **{row['kind']}** chosen on PublicTest, {row['what']}, scores "
                    f"**{row['test_acc_pct']:.1f} %** on PrivateTest [{row['test_acc_low']:.1f}, "
                    f"{row['test_acc_high']:.1f}]{seeds}, at {row['cpu_ms_per_face']:.1f} CPU ms per face.")
    reruns = leaderboard.public_code_reruns(entries)
    if reruns:
        said.append(f"Beside them, other people's runs of published single-model code on PrivateTest reach "
                    f"{reruns}; the leaderboard chapter gives each thread and setting.")
    return Markdown(" ".join(said))


def research_answers(runs_dir: str | Path | None = None, samples: int = 2000, seed: int = 0) -> Markdown:
    """One line per research question (``experiments.QUESTIONS``): its verdicts on accuracy and macro-F1."""
    lines = []
    for question in experiments.QUESTIONS:
        comparison = experiments.answer(question, runs_dir, samples, seed).comparison
        lines.append(f"- **{question}** {experiments.verdict_summary(comparison)}")
    return Markdown("\n".join(lines))


def untrained_paper_models(runs: Sequence[Run]) -> list[str]:
    """The registered paper models (``model_info(...).paper_model``) with no committed full-tier run: their
    papers' recipes need a GPU this study has not been lent yet."""
    trained = {run.metrics.model for run in runs if run.metrics.tier == "full"}
    return [name for name in list_models() if model_info(name).paper_model and name not in trained]


def untrained_text(runs: Sequence[Run]) -> Markdown:
    waiting = untrained_paper_models(runs)
    if not waiting:
        return Markdown("Every paper model has a committed run at its paper's recipe.")
    configs = sorted(path.stem for path in (paths.PARAMS_DIR / "full" / "runs").glob("*.yaml"))
    by_paper: dict[str, list[str]] = {}
    for name in waiting:
        by_paper.setdefault(model_info(name).paper, []).append(f"`{name}`")
    papers = "\n".join(f"- {paper}: {', '.join(names)}" for paper, names in by_paper.items())
    return Markdown(f"**Not yet trained at their papers' recipes** (they need a GPU), by paper:\n\n{papers}\n\n"
                    f"Their {len(configs)} full-tier configs (`params/full/runs/`) run on one lent GPU machine "
                    f"with `{FULL_TIER_COMMAND}`; until then the chapters compare the papers' claims only with "
                    f"the {', '.join(RESULT_TIERS[1:])} tier, which is never judged against them.")
