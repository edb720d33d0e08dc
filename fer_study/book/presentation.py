"""How the book shows its results to a reader: the front page's one row per claim and tier with its figure,
and the two or three sentences each chapter opens with (generated from the data). Tables: ``tables``.

Everything here formats numbers that ``fer_study.analysis.claims``, ``fer_study.analysis.ensemble`` and the datasets
compute; nothing is measured here.
"""

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from IPython.display import Markdown
from matplotlib.figure import Figure

from fer_study.analysis import ensemble
from fer_study.analysis.claims import ClaimSet, load_claims
from fer_study.analysis.verdicts import (
    HELD,
    JUDGED,
    MEASURED,
    NO_CLAIM,
    NO_MODEL_HERE,
    NO_RUN,
    NOT_COMPARABLE,
    NOT_COMPARABLE_BUDGET,
    NOT_REPRODUCED,
    REFERENCE,
)
from fer_study.book import plots
from fer_study.book.tables import is_missing
from fer_study.core.metrics import accuracy_half_width
from fer_study.runs import Run, accuracy, best_on_validation, held_out_validation, run_title

# Verdict colours (colour-blind palette of the house style), shared by the headline figure and table.
VERDICT_COLOURS = {HELD: "#029e73", NOT_REPRODUCED: "#d55e00", NOT_COMPARABLE: "#949494",
                   NOT_COMPARABLE_BUDGET: "#0173b2", NO_RUN: "#cccccc", NO_MODEL_HERE: "#cccccc",
                   REFERENCE: "#000000", NO_CLAIM: "#cccccc"}
HEADLINE_COLUMNS = ["Paper", "Claim", "Claimed", "Reproduced (95 % interval)", "Tier", "Verdict", "Chosen from"]

# --- The front page: one row per claim and tier --------------------------------------------------------

def _validation_accuracy(row: pd.Series, runs_by_name: Mapping[str, Run]) -> float:
    """What a row is chosen by: its ensemble's validation accuracy, or for a recipe the validation accuracy
    of its run that ``runs.best_on_validation`` picks; NaN when no run of the row has a held-out
    validation split (its validation accuracy would flatter it)."""
    members = [runs_by_name[name] for name in row["runs"] if name in runs_by_name]
    tta = row["run_tta"] not in ("none", None) and not is_missing(row["run_tta"])
    if pd.notna(row.get("ensemble")):
        if not members or not all(held_out_validation(run) for run in members):
            return np.nan
        mean = ensemble.probabilities(members, "val", tta).mean(axis=0)
        return float((mean.argmax(axis=1) == members[0].labels("val")).mean())
    best = best_on_validation(members, tta=tta)
    return np.nan if best is None else accuracy(best, "val", tta)


def _interval(row: pd.Series, runs_by_name: Mapping[str, Run]) -> tuple[float, float]:
    """The 95 % sampling interval of an accuracy on the test images (the margin the verdict uses); none for
    a gain, whose paired bootstrap interval is in the ensemble chapter."""
    names = [name for name in row["runs"] if name in runs_by_name]
    if row["metric"] != "accuracy" or is_missing(row["reproduced"]) or not names:
        return np.nan, np.nan
    margin = 100 * accuracy_half_width(row["reproduced"] / 100, len(runs_by_name[names[0]].labels("test")))
    return row["reproduced"] - margin, row["reproduced"] + margin


def headline(table: pd.DataFrame, runs: Sequence[Run]) -> pd.DataFrame:
    """One row per (claim, tier) of ``claims.comparison_table``: among the tier's rows of a claim (one per
    recipe or ensemble), the one best on validation (PublicTest; rows without a held-out validation split
    only when no other has one), with its 95 % interval. Claims with no reproduction keep their one row.

    Columns: the comparison table's, plus ``low`` and ``high`` (the interval, percent), ``val_acc_pct`` (what
    the row was chosen by) and ``candidates`` (rows it was chosen from)."""
    runs_by_name = {run.name: run for run in runs}
    rows = []
    tiers = table["tier"].astype(object).fillna("")
    for _, group in table[table["claim"].notna()].groupby(["claim", tiers], sort=False):
        scores = group.apply(_validation_accuracy, axis=1, runs_by_name=runs_by_name)
        chosen = group.loc[scores.idxmax()] if scores.notna().any() else group.iloc[0]
        low, high = _interval(chosen, runs_by_name)
        rows.append(chosen.to_dict() | {"low": low, "high": high, "val_acc_pct": 100 * scores[chosen.name],
                                        "candidates": len(group)})
    return pd.DataFrame(rows).reset_index(drop=True)


def comparison_view(table: pd.DataFrame) -> pd.DataFrame:
    """``claims.comparison_table`` in fewer columns for the results chapter: the model or ensemble in one
    column, the claim's dataset and split in another, the two sides' test-time augmentation in a third."""
    def tta(row):
        return " / ".join(str(value) for value in (row["claim_tta"], row["run_tta"]) if not is_missing(value))

    return pd.DataFrame({
        "claim": table["claim"], "model": table["ensemble"].fillna(table["model"]),
        "Dataset (claimed on)": [f"{dataset} ({split})"
                                 for dataset, split in zip(table["dataset"], table["split"], strict=True)],
        "claimed": table["claimed"], "reproduced": table["reproduced"], "spread": table["spread"],
        "n_runs": table["n_runs"], "tier": table["tier"], "TTA (claim / runs)": table.apply(tta, axis=1),
        "verdict": table["verdict"], "note": table["note"]})


def _unit(metric: str) -> str:
    return "points" if metric == "gain" else "%"


def headline_table(rows: pd.DataFrame) -> pd.DataFrame:
    """``headline`` as the front page shows it: a few readable columns, numbers with their units."""
    def reproduced(row):
        if is_missing(row["reproduced"]):
            return ""
        interval = "" if is_missing(row["low"]) else f" [{row['low']:.1f}, {row['high']:.1f}]"
        return f"{row['reproduced']:.1f}{interval} {_unit(row['metric'])}"

    def chosen_from(row):
        if not row["n_runs"]:
            return ""
        what = row["ensemble"] if pd.notna(row["ensemble"]) else row["model"]
        return (f"{what}; best of {row['candidates']} on validation" if row["candidates"] > 1 else str(what))

    return pd.DataFrame({
        "Paper": rows["paper"], "Claim": rows["claim"],
        "Claimed": [f"{value:g} {_unit(metric)} ({split})"
                    for value, metric, split in zip(rows["claimed"], rows["metric"], rows["split"], strict=True)],
        "Reproduced (95 % interval)": rows.apply(reproduced, axis=1),
        "Tier": rows["tier"].fillna(""), "Verdict": rows["verdict"],
        "Chosen from": rows.apply(chosen_from, axis=1)}, columns=HEADLINE_COLUMNS)


def _short_paper(paper: str) -> str:
    """'VGGNet (Khaireddin & Chen 2021)' -> 'VGGNet'; 'PyPI package `fer` (...)' -> 'PyPI package fer'."""
    return re.split(r" \(|, ", paper)[0].replace("`", "")


def plot_headline(rows: pd.DataFrame, title: str | None = None) -> Figure:
    """Claimed (open diamond) against reproduced accuracy (dot with its 95 % interval, coloured by verdict),
    one line per claim and tier with a reproduction, grouped by paper."""
    points = rows[rows["metric"].eq("accuracy") & rows["reproduced"].notna()]
    if points.empty:
        return plots.message_figure("No claim has a reproduction yet.", title)
    points = points.sort_values(["paper", "claim", "tier"], kind="stable").reset_index(drop=True)
    figure, (axes,) = plots._figure(height=1.6 + 0.42 * len(points))
    positions = np.arange(len(points))[::-1]
    for position, (_, row) in zip(positions, points.iterrows(), strict=True):
        colour = VERDICT_COLOURS.get(row["verdict"], "#000000")
        axes.errorbar(row["reproduced"], position, xerr=[[row["reproduced"] - row["low"]],
                                                          [row["high"] - row["reproduced"]]],
                      fmt="o", color=colour, ecolor=colour, capsize=3, markersize=7)
        axes.plot(row["claimed"], position, marker="D", markerfacecolor="white", markeredgecolor="black",
                  markersize=7, linestyle="none")
        axes.plot([row["claimed"], row["reproduced"]], [position, position], color=colour, alpha=0.3, lw=1)
    labels = [f"{_short_paper(row['paper'])}: {row['claim']} ({row['tier']} tier)" for _, row in points.iterrows()]
    axes.set_yticks(positions, labels)
    axes.set(xlabel="accuracy on the claim's split (%)", ylabel="", title=title or "")
    handles = [axes.plot([], [], marker="D", markerfacecolor="white", markeredgecolor="black",
                         linestyle="none", label="claimed")[0]]
    handles += [axes.plot([], [], marker="o", color=VERDICT_COLOURS[verdict], linestyle="none",
                          label=f"reproduced: {verdict}")[0]
                for verdict in VERDICT_COLOURS if verdict in set(points["verdict"])]
    figure.legend(handles=handles, loc="outside lower center", ncol=min(3, len(handles)), frameon=False)
    return figure


# --- Chapter openings: the answer in two or three sentences ------------------------------------------

def _count_words(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{count} {verdict}" for verdict, count in counts.items())


def front_page_answer(rows: pd.DataFrame) -> Markdown:
    """The claims' tally from ``headline`` rows: how many claims have a run beside them, and what the verdicts
    can and cannot say (a run on a CPU budget neither confirms nor refutes a paper's claim)."""
    claims_total = rows["claim"].nunique()
    measured = rows[rows["verdict"].isin(MEASURED)]
    counts = {verdict: int((measured["verdict"] == verdict).sum()) for verdict in MEASURED
              if (measured["verdict"] == verdict).any()}
    without = rows[~rows["claim"].isin(measured["claim"])].drop_duplicates("claim")["verdict"].value_counts()
    if measured.empty:
        return Markdown(f"**Answer.** None of the {claims_total} published claims has a committed reproduction "
                        f"yet ({_count_words(without.to_dict())}).")
    lines = [f"**Answer.** Of {claims_total} published claims, {measured['claim'].nunique()} have a committed "
             f"run beside them (per claim and tier: {_count_words(counts)}); the other "
             f"{claims_total - measured['claim'].nunique()} have none ({_count_words(without.to_dict())})."]
    for verdict, words in ((HELD, "Held under the study's protocol"), (NOT_REPRODUCED, "Not reproduced")):
        judged = measured.loc[measured["verdict"] == verdict, "claim"]
        if len(judged):
            lines.append(f"{words}: {', '.join(judged)}.")
    if not measured["verdict"].isin(JUDGED).any():
        lines.append("None of these runs follows its paper's full recipe, so no claim is confirmed or refuted "
                     "yet: that takes the full tier, on a GPU.")
    return Markdown(" ".join(lines))


def chapter_answer(rows: pd.DataFrame, topic: str, claim_set: ClaimSet | None = None) -> Markdown:
    """A chapter's answer from ``headline`` rows of its claims (one per claim and tier, each chosen on
    validation): the highest claim, the highest reproduction beside a claim, and the verdicts."""
    claimed = rows[rows["claim"].notna()]
    if claimed.empty:
        return Markdown(f"**Answer.** No claim about {topic} is in the claims file.")
    measured = claimed[claimed["verdict"].isin(MEASURED)]
    invalid = {claim["id"]: claim["invalid"] for claim in (claim_set or load_claims()).claims if claim.get("invalid")}
    standing = claimed[~claimed["claim"].isin(invalid)]
    # The claim quoted first: the highest that can stand, on FER2013's labels where there is one.
    on_fer2013 = standing[standing["dataset"].map(
        lambda name: ensemble.label_set(str(name)) == ensemble.FER2013_LABELS).astype(bool)]
    quoted = on_fer2013 if len(on_fer2013) else standing
    lines = ["**Answer.**"]
    if len(quoted):
        best_claim = quoted.loc[quoted["claimed"].idxmax()]
        lines.append(f"The papers and the report claim up to {best_claim['claimed']:g} {_unit(best_claim['metric'])} "
                     f"for {topic} on {ensemble.label_set(str(best_claim['dataset']))} "
                     f"({best_claim['claim']}, {best_claim['split']} split).")
    dropped = sorted(set(claimed["claim"]) & set(invalid))
    if dropped:
        reasons = "; ".join(f"{claim} ({invalid[claim]})" for claim in dropped)
        lines.append(f"Not quoted, since the number cannot stand: {reasons}.")
    if measured.empty:
        lines.append(f"None of its {claimed['claim'].nunique()} claims has a committed reproduction yet; the "
                     "tables below say which recipe would check each.")
    else:
        top = measured.loc[measured["reproduced"].idxmax()]
        counts = measured["verdict"].value_counts()
        lines.append(f"The highest validation-chosen reproduction reaches {top['reproduced']:.1f} "
                     f"{_unit(top['metric'])} "
                     f"({top['model'] if pd.isna(top['ensemble']) else top['ensemble']}, {top['tier']} tier, "
                     f"against claim {top['claim']}: {top['verdict']}); verdicts per claim and tier: "
                     f"{_count_words(counts.to_dict())}.")
    return Markdown(" ".join(lines))


def ensemble_answer(results: Sequence[ensemble.EnsembleResult]) -> Markdown:
    """Chapter 6's answer, one sentence per label set (FER2013 first; accuracies on different labels are
    never ranked together): the ensemble best on validation (``ensemble.best_result``), its test accuracy
    and its gain over its validation-best member, with their 95 % bootstrap intervals."""
    answers = []
    for labels in ensemble.LABEL_SETS:
        best = ensemble.best_result(results, labels)
        if best is None:
            continue
        low, high = (100 * bound for bound in best.gain_interval)
        verdict = ("lies above zero: ensembling helps here" if low > 0
                   else "includes zero or lies below it: this ensemble is not shown to help")
        evaluated = sum(ensemble.label_set(result.ensemble.group) == labels for result in results)
        answers.append(
            f"**On {labels} labels** (of {evaluated} ensembles and combiners scored on them), the one best on "
            f"validation is {ensemble.label(best)}: {100 * best.test['accuracy']:.1f} % on PrivateTest "
            f"[{100 * best.accuracy_interval[0]:.1f}, {100 * best.accuracy_interval[1]:.1f}], "
            f"{100 * best.gain:+.1f} points [{low:+.1f}, {high:+.1f}] over its validation-best member "
            f"{run_title(best.best_member)}. The gain's 95 % interval {verdict}.")
    if not answers:
        return Markdown(f"**Answer.** {ensemble.NO_RUNS}")
    return Markdown("**Answer.** " + " ".join(answers))


def dataset_answer(fer2013, balance: pd.DataFrame, agreement: pd.DataFrame) -> Markdown:
    """Chapter 1's answer from the data: FER2013's size and splits, the images that balance its Kaggle
    folders (``balance.balance_table`` with ``KAGGLE_FOLDER_GROUPS``), and how often FER2013's label and
    the FER+ majority agree on PrivateTest (``agreement.agreement_table``)."""
    sizes = fer2013.counts().sum(axis=1)
    added = balance[("total", "to_add")]
    return Markdown(
        f"**Answer.** FER2013 holds {len(fer2013):,} faces: {sizes['train']:,} for training, {sizes['val']:,} "
        f"PublicTest (validation) and {sizes['test']:,} PrivateTest (test). Filling every class up to the "
        f"largest takes {int(added['train']):,} training and {int(added['test']):,} test images "
        f"({100 * added.sum() / len(fer2013):.1f} % more), the report's computation. On PrivateTest the "
        f"original label and the FER+ majority agree on {100 * agreement.loc['test', 'agreement']:.1f} % of "
        "the faces both label: on the rest, an answer one label set scores as right the other scores as wrong. "
        "It is no bound on a model's accuracy against either label set: a model can agree with one set more "
        "often than the two sets agree with each other.")
