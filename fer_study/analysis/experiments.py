"""The report's research questions as seeded experiments: arms against a base, with honest intervals.

An *arm* is one training recipe (one params file, ``params/<tier>/runs/<recipe>.yaml``) run with several
seeds, as the runs ``<recipe>_seed<N>`` (``fer_study.runs.recipe_and_seed``). Every arm differs from the
base recipe in one factor, so its difference from the base is that factor's effect, at this budget.

The difference of an arm from the base is the difference of their mean PrivateTest accuracies over seeds.
Every arm is scored on the base's test images: an arm trained on another dataset whose test split holds
other images (FER+ drops some FER2013 faces) is scored on the FER2013 PrivateTest its runs also record
(``TrainConfig.extra_test_datasets``, split ``fer2013_test``); its own test score is shown beside.
Its interval comes from a two-level bootstrap (Davison & Hinkley 1997, ch. 3.8; "hierarchical" bootstrap):
each draw resamples the seeds of each arm (with replacement) and the test images (one draw of images shared
by both arms, since both are scored on the same images), so it holds both the seed-to-seed variance and the
test-sampling variance. The two-sided bootstrap p-value of "no difference" is twice the smaller tail of
the draws beyond zero; p-values of the arms of one table are Holm-corrected (Holm 1979), and an arm is
labelled *helps* or *hurts* only when its corrected p-value is below ``ALPHA``, else *no detectable
effect*. The smallest difference the design could detect is ``(z_{1-alpha/2} + z_{power}) * SE`` of the
bootstrap difference (80 % power at alpha 0.05: 2.8 standard errors).

What this does not show: an effect at this budget (a 1.2 M-parameter CNN, 12 epochs, 40 for the batch-mixing
question) is not the effect at a paper's scale, and three seeds estimate the seed variance roughly; the tables
say so beside the numbers.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import yaml

from fer_study.analysis.ensemble import check_aligned, mean_softmax
from fer_study.core import paths
from fer_study.core.constants import CLASS_NAMES
from fer_study.core.metrics import (
    bootstrap_differences,
    bootstrap_macro_f1_differences,
    bootstrap_p_value,
    classification_metrics,
    detectable_difference,
    holm,
    macro_f1,
)
from fer_study.runs import Run, list_runs, load_run, other_test_split, recipe_and_seed, run_title, snapshots_of

BASE_RECIPE = "exp_base"
# "<recipe>+snapshots": per seed run of the recipe, the mean-softmax ensemble of its snapshot runs.
SNAPSHOTS = "+snapshots"
# The report's research questions as data: per question, its arms (label: recipe) and its base recipe.
QUESTIONS_FILE = Path(__file__).with_name("questions.yaml")


def load_questions(path: str | Path = QUESTIONS_FILE) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """``questions.yaml`` -> ({question: {arm label: recipe}}, {question: its base, where not ``BASE_RECIPE``})."""
    entries = yaml.safe_load(Path(path).read_text())
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of questions, got {type(entries).__name__}")
    questions, bases = {}, {}
    for number, entry in enumerate(entries, 1):
        if not _is_question(entry) or entry["question"] in questions:
            raise ValueError(f"{path}: question {number}: expected a new 'question' (text), its 'arms' (arm label: "
                             f"recipe, at least one) and optionally its 'base' (a recipe); got {entry!r}")
        questions[entry["question"]] = entry["arms"]
        if "base" in entry:
            bases[entry["question"]] = entry["base"]
    return questions, bases


def _is_question(entry) -> bool:
    return (isinstance(entry, dict) and {"question", "arms"} <= set(entry) <= {"question", "arms", "base"}
            and all(isinstance(entry[key], str) for key in ("question", "base") if key in entry)
            and isinstance(entry["arms"], dict) and len(entry["arms"]) > 0
            and all(isinstance(text, str) for text in (*entry["arms"], *entry["arms"].values())))


QUESTIONS, QUESTION_BASES = load_questions()

# A recipe's float32 twin (``precision_twin``; CPUs without AMX emulate bfloat16 ~13x slower) is a params file
# of ``base: <recipe>`` and ``precision: float32``, compared with the float32 twin of its question's base. Either
# twin, with its seeds, answers the arm's question: an arm is pending only while neither has a verdict.
FLOAT32_TWIN_SUFFIX = "_float32"

ALPHA = 0.05
POWER = 0.8
HELPS, HURTS, NO_EFFECT = "helps", "hurts", "no detectable effect"
MIN_SEEDS = 3
# The split holding FER2013 PrivateTest in runs trained on another dataset (extra_test_datasets: [fer2013]).
FER2013_TEST = other_test_split("fer2013")
# The columns of a question's summary in the chapters (``summary_table`` has more: datasets, per-class recall).
SUMMARY_COLUMNS = ("arm", "seeds", "epochs", "acc_mean", "acc_sd", "macro_f1_mean", "macro_f1_sd", "train_acc_mean")


@dataclass
class Arm:
    """One recipe and its seed runs (sorted by seed), compared with the base on ``split``: ``test``, or
    ``fer2013_test`` for an arm whose own test split holds other images."""

    label: str
    recipe: str
    runs: list[Run]
    split: str = "test"

    @property
    def seeds(self) -> list[int]:
        return [run.metrics.seed for run in self.runs]

    def predicted(self, split: str | None = None) -> np.ndarray:
        """(seeds, images) predicted classes of each seed's run (on ``split``, default the arm's)."""
        split = split or self.split
        return np.stack([run.logits(split).argmax(1) for run in self.runs])

    def correct(self, split: str | None = None) -> np.ndarray:
        """(seeds, images) 0/1 matrix: whether each seed's run classified each image right (on ``split``,
        default the arm's)."""
        split = split or self.split
        return np.stack([run.logits(split).argmax(1) == run.labels(split) for run in self.runs]).astype(np.float64)


def load_arms(arms: Mapping[str, str], runs_dir: str | Path | None = None) -> list[Arm]:
    """``{label: recipe}`` -> the arms with their committed seed runs (an arm with none has ``runs == []``).

    Every arm is scored on the first arm's (the base's) test images, in the same order, since the paired
    bootstrap relies on it: on its own ``test`` split when that holds them, else on ``fer2013_test``.
    """
    runs_dir = Path(runs_dir) if runs_dir is not None else paths.RUNS_DIR
    by_recipe: dict[str, list[str]] = {}
    for name in list_runs(runs_dir):
        recipe, seed = recipe_and_seed(name)
        if seed is not None:
            by_recipe.setdefault(recipe, []).append(name)
    loaded = []
    for label, recipe in arms.items():
        trained = recipe.removesuffix(SNAPSHOTS)
        runs = sorted((load_run(name, runs_dir) for name in by_recipe.get(trained, [])),
                      key=lambda run: run.metrics.seed)
        if recipe.endswith(SNAPSHOTS):
            runs = [ensemble for run in runs if (ensemble := snapshot_ensemble(run, runs_dir)) is not None]
        loaded.append(Arm(label, recipe, runs))
    reference = next((arm.runs[0] for arm in loaded if arm.runs), None)
    for arm in loaded:
        if arm.runs:
            arm.split = _common_split(arm, reference.ids_digest("test"), reference.name)
    return loaded


def snapshot_ensemble(run: Run, runs_dir: Path) -> Run | None:
    """The mean-softmax ensemble of ``run``'s snapshots (``fer_study.runs.snapshots_of``) as a run of its own (log
    mean probabilities as logits; seed, config and history the run's); ``None`` without snapshot runs."""
    snapshots = snapshots_of(run, runs_dir)
    if not snapshots:
        return None
    check_aligned(snapshots)
    predictions = {}
    for key in snapshots[0].predictions:
        if key.endswith("_logits") or key.endswith("_logits_tta"):
            predictions[key] = np.log(mean_softmax([snapshot.predictions[key] for snapshot in snapshots]))
        else:
            predictions[key] = snapshots[0].predictions[key]
    members = [snapshot.name for snapshot in snapshots]
    return Run(f"{run.name}{SNAPSHOTS}", run.path, run.config, {**run.metrics, "members": members}, run.history,
               predictions)


def _common_split(arm: Arm, ids_digest: str, reference: str) -> str:
    """The split on which every run of ``arm`` scored exactly the images of ``ids_digest`` (``reference``'s
    test, ``Run.ids_digest``)."""
    for split in ("test", FER2013_TEST):
        if all(f"{split}_labels" in run.predictions and run.ids_digest(split) == ids_digest for run in arm.runs):
            return split
    raise ValueError(f"the runs of {arm.recipe!r} were not all tested on the images of {reference!r}, in the "
                     f"test or {FER2013_TEST} split: arms can only be compared on the same test images")


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def summary_table(arms: Sequence[Arm]) -> pd.DataFrame:
    """Per arm: seeds, mean and standard deviation over seeds of accuracy and macro-F1 on the arm's split
    (percent), the mean recall of each class, the mean final training accuracy, and its steps; for an arm
    scored on ``fer2013_test``, also its mean accuracy on its own dataset's test split (``own_test_acc``)."""
    rows = []
    for arm in arms:
        if not arm.runs:
            rows.append({"arm": arm.label, "recipe": arm.recipe, "seeds": 0})
            continue
        metrics = [classification_metrics(run.labels(arm.split), run.logits(arm.split)) for run in arm.runs]
        accuracy = _mean_sd([100 * m["accuracy"] for m in metrics])
        macro_f1 = _mean_sd([100 * m["macro_f1"] for m in metrics])
        train_accuracy = _mean_sd([100 * run.history["train_accuracy"].iloc[-1] for run in arm.runs])
        rows.append({
            "arm": arm.label, "recipe": arm.recipe, "seeds": len(arm.runs),
            "dataset": arm.runs[0].config.get("dataset"), "epochs": arm.runs[0].metrics.epochs,
            "acc_mean": accuracy[0], "acc_sd": accuracy[1], "macro_f1_mean": macro_f1[0],
            "macro_f1_sd": macro_f1[1], "train_acc_mean": train_accuracy[0],
            "own_test_acc": (100 * arm.correct("test").mean(1).mean() if arm.split != "test" else np.nan),
            **{f"recall_{name}": 100 * float(np.mean([m["per_class"][name]["recall"] for m in metrics]))
               for name in CLASS_NAMES},
        })
    return pd.DataFrame(rows)


def verdict(difference: float, adjusted_p: float, alpha: float = ALPHA) -> str:
    if adjusted_p >= alpha:
        return NO_EFFECT
    return HELPS if difference > 0 else HURTS


# The metrics every arm is judged on: accuracy, and macro-F1, the metric the imbalance remedies are about.
# Column prefixes of the comparison table: "" for accuracy, "f1_" for macro-F1.
METRICS = {"": "accuracy", "f1_": "macro-F1"}


def compare_to_base(base: Arm, arms: Sequence[Arm], samples: int = 2000, level: float = 0.95,
                    seed: int = 0, min_seeds: int = MIN_SEEDS) -> pd.DataFrame:
    """``compare_pairs`` with one base for every arm."""
    return compare_pairs([(base, arm) for arm in arms], samples, level, seed, min_seeds)


def compare_pairs(pairs: Sequence[tuple[Arm, Arm]], samples: int = 2000, level: float = 0.95, seed: int = 0,
                  min_seeds: int = MIN_SEEDS) -> pd.DataFrame:
    """One row per (base, arm) pair: the arm's difference from its base in percentage points of PrivateTest
    accuracy and of macro-F1, each with its bootstrap interval, raw and Holm-adjusted p-values (Holm over
    every arm and both metrics), verdict and smallest detectable difference.

    Arms with fewer than ``min_seeds`` seeds (or whose base has fewer) get no verdict: "too few seeds".
    """
    rows, tested = [], []
    tail = (1 - level) / 2 * 100
    for base, arm in pairs:
        row = {"arm": arm.label, "recipe": arm.recipe, "base": base.recipe, "seeds": len(arm.runs)}
        if len(base.runs) < min_seeds or len(arm.runs) < min_seeds:
            short_base = len(base.runs) < min_seeds  # then the base is named: the row already names its arm
            counted = f"{base.label}: {len(base.runs)}" if short_base else len(arm.runs)
            too_few = f"too few seeds ({counted} of {min_seeds})"
            rows.append(row | {"verdict": too_few, "f1_verdict": too_few})
            continue
        labels = base.runs[0].labels(base.split)
        draws = {"": 100 * bootstrap_differences(base.correct(), arm.correct(), samples, seed),
                 "f1_": 100 * bootstrap_macro_f1_differences(base.predicted(), arm.predicted(), labels, samples,
                                                             seed)}
        observed = {"": 100 * (arm.correct().mean() - base.correct().mean()),
                    "f1_": 100 * (np.mean([macro_f1(labels, predicted) for predicted in arm.predicted()])
                                  - np.mean([macro_f1(labels, predicted) for predicted in base.predicted()]))}
        for prefix, metric_draws in draws.items():
            low, high = np.percentile(metric_draws, [tail, 100 - tail])
            row |= {f"{prefix}difference_pp": float(observed[prefix]), f"{prefix}low_pp": float(low),
                    f"{prefix}high_pp": float(high), f"{prefix}p_value": bootstrap_p_value(metric_draws),
                    f"{prefix}detectable_pp": detectable_difference(float(metric_draws.std(ddof=1)), ALPHA, POWER)}
        tested.append(len(rows))
        rows.append(row)
    if tested:
        keys = [(i, prefix) for i in tested for prefix in METRICS]
        adjusted = holm([rows[i][f"{prefix}p_value"] for i, prefix in keys])
        for (i, prefix), p in zip(keys, adjusted, strict=True):
            rows[i] |= {f"{prefix}p_holm": float(p),
                        f"{prefix}verdict": verdict(rows[i][f"{prefix}difference_pp"], float(p))}
    columns = ["arm", "recipe", "base", "seeds"] + [f"{prefix}{column}" for prefix in METRICS
                                                   for column in ("difference_pp", "low_pp", "high_pp", "p_value",
                                                                  "p_holm", "verdict", "detectable_pp")]
    return pd.DataFrame(rows).reindex(columns=columns)


class Answer(NamedTuple):
    """One research question answered: its arms (base first), their comparison with the base
    (``compare_to_base``) and the sentences stating the answer (``answer_text``)."""

    arms: list[Arm]
    comparison: pd.DataFrame
    text: str

    def summary(self, columns: Sequence[str] = SUMMARY_COLUMNS) -> pd.DataFrame:
        """``summary_table`` of the arms, reduced to ``columns``."""
        return summary_table(self.arms).reindex(columns=list(columns))

    def differences(self) -> pd.DataFrame:
        """The comparison as a chapter shows it: per metric the difference and its 95 % interval as one text
        ("+0.26 [-0.74, +1.28]") and the verdict with its Holm-adjusted p; the base column only where some arm
        has another base. Raw p-values and detectable differences stay in ``comparison``."""
        rows = self.comparison
        shown = rows[["arm", "base", "seeds"]].copy()
        for prefix in METRICS:
            shown[f"{prefix}interval_pp"] = [_interval(row, prefix) if pd.notna(row[f"{prefix}difference_pp"]) else ""
                                             for _, row in rows.iterrows()]
            judged = zip(rows[f"{prefix}verdict"], rows[f"{prefix}p_holm"], strict=True)
            shown[f"{prefix}verdict"] = [text if np.isnan(p) else f"{text} (Holm p {p:.3f})" for text, p in judged]
        return shown if shown["base"].nunique() > 1 else shown.drop(columns="base")


def answer(question: str, runs_dir: str | Path | None = None, samples: int = 2000, seed: int = 0) -> Answer:
    """One research question of ``QUESTIONS``: its arms (base first: ``QUESTION_BASES``' recipe for the question,
    else ``BASE_RECIPE``), the comparison table, the answer text. An arm trained in another precision than
    the base is compared with the base's twin of its own precision (``precision_twin``), never across precisions,
    which would confound the precision with the arm's factor."""
    arms = load_arms({"base": QUESTION_BASES.get(question, BASE_RECIPE), **QUESTIONS[question]}, runs_dir)
    base = arms[0]
    precision_bases: dict[str, Arm] = {}
    pairs = []
    for arm in arms[1:]:
        precision = _precision(arm)
        twin = precision_twin(base.recipe, precision)
        if precision == _precision(base) or twin in (base.recipe, arm.recipe):
            pairs.append((base, arm))
            continue
        if precision not in precision_bases:
            precision_bases[precision] = load_arms({f"base ({precision})": twin}, runs_dir)[0]
        pairs.append((precision_bases[precision], arm))
    comparison = compare_pairs(pairs, samples, seed=seed)
    return Answer([base, *precision_bases.values(), *arms[1:]], comparison,
                  answer_text(question, comparison, base, list(precision_bases.values())))


def precision_twin(recipe: str, precision: str | None) -> str:
    """The recipe's twin trained in ``precision``: ``exp_base`` <-> ``exp_base_float32`` (bfloat16 or ``None``:
    the recipes' own precision), ``exp_cyclic+snapshots`` -> ``exp_cyclic_float32+snapshots``."""
    trained, snapshots, _ = recipe.partition(SNAPSHOTS)
    suffix = FLOAT32_TWIN_SUFFIX if precision == "float32" else ""
    return f"{trained.removesuffix(FLOAT32_TWIN_SUFFIX)}{suffix}{snapshots}"


def _precision(arm: Arm) -> str | None:
    """The precision the arm's runs trained in; ``None`` for an arm without runs, or of runs that did not
    record it (compared with the base)."""
    return arm.runs[0].metrics.precision if arm.runs else None


def _interval(row: pd.Series, prefix: str, unit: str = "") -> str:
    """A comparison row's difference and 95 % interval for one metric: "+0.26 [-0.74, +1.28]"."""
    return (f"{row[prefix + 'difference_pp']:+.2f}{unit} [{row[prefix + 'low_pp']:+.2f}, "
            f"{row[prefix + 'high_pp']:+.2f}]")


def _named(labels: Sequence[str]) -> str:
    """Arm labels as one phrase, each in italics: labels may hold commas ("fer2013_a, equal epochs, float32")."""
    labels = [f"*{label}*" for label in labels]
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"


def verdict_summary(comparison: pd.DataFrame) -> str:
    """A comparison (``compare_pairs``) in a few short sentences: per metric, the arms that help, those that
    hurt and how many show no detectable effect; then the arms still short of seeds."""
    judged = comparison.dropna(subset=["difference_pp"])
    sentences = []
    for prefix, metric in METRICS.items():
        verdicts = judged[f"{prefix}verdict"]
        parts = [f"{_named(judged.loc[verdicts == kind, 'arm'])} {'help' if kind == HELPS else 'hurt'}"
                 for kind in (HELPS, HURTS) if (verdicts == kind).any()]
        neutral = int((verdicts == NO_EFFECT).sum())
        if neutral:
            parts.append(f"{neutral} arm{'s' if neutral > 1 else ''} show{'' if neutral > 1 else 's'} no "
                         "detectable effect")
        if parts:
            sentences.append(f"{metric[0].upper()}{metric[1:]}: {'; '.join(parts)}.")
    pending = [label for label, _ in pending_arms(comparison)]
    if pending:
        sentences.append(f"Not yet run with {MIN_SEEDS} seeds: {'; '.join(pending)}.")
    return " ".join(sentences) or "No arm yet."


def pending_arms(comparison: pd.DataFrame) -> list[tuple[str, int]]:
    """(label, seeds) of the arms of a comparison still without a verdict, leaving out an arm whose
    precision twin (``FLOAT32_TWIN_SUFFIX``) has one, and naming a pair of twins once: "<label>, in either
    precision", with the seeds of the twin furthest along."""
    if comparison.empty:
        return []
    stems = comparison["recipe"].map(lambda recipe: precision_twin(recipe, None))
    judged = set(stems[comparison["difference_pp"].notna()])
    pending = []
    for stem, twins in comparison[comparison["difference_pp"].isna()].groupby(stems, sort=False):
        if stem in judged:
            continue
        label = (twins.loc[twins["recipe"] == stem, "arm"].iloc[0] + ", in either precision" if len(twins) > 1
                 else twins["arm"].iloc[0])
        pending.append((label, int(twins["seeds"].max())))
    return pending


def answer_text(question: str, comparison: pd.DataFrame, base: Arm, other_bases: Sequence[Arm] = ()) -> str:
    """Two to four sentences stating the answer a comparison table gives, generated from it: per metric
    (accuracy, macro-F1) the arms that help, hurt, or show no detectable effect. Arms are listed with
    semicolons, since their labels may hold commas."""
    if not base.runs and not any(other.runs for other in other_bases):
        return f"**{question}** No run of the base recipe `{base.recipe}` is committed yet: no answer."
    def described(arm: Arm) -> str:
        labels = arm.runs[0].labels(arm.split)
        f1 = np.mean([macro_f1(labels, predicted) for predicted in arm.predicted()])
        return (f"{run_title(arm.recipe)} (`{arm.recipe}`), {100 * arm.correct().mean():.2f} % mean PrivateTest "
                f"accuracy and {100 * f1:.2f} % macro-F1 over {len(arm.runs)} seeds")

    # Where only a twin of the base has runs (float32 on CPUs without AMX), its arms are still answered.
    parts = [f"**{question}** Base: {described(base)}." if base.runs
             else f"**{question}** The base recipe `{base.recipe}` has no committed run yet."]
    parts += [f"Arms trained in {_precision(other)} are compared with {described(other)}."
              for other in other_bases if other.runs]
    judged = comparison.dropna(subset=["difference_pp"]) if "difference_pp" in comparison else comparison.iloc[:0]
    for prefix, metric in METRICS.items():
        said = []
        for kind in (HELPS, HURTS):
            rows = judged[judged[f"{prefix}verdict"] == kind]
            if len(rows):
                listed = "; ".join(f"{row['arm']} ({_interval(row, prefix, ' pp')})" for _, row in rows.iterrows())
                said.append(f"{'helps' if kind == HELPS else 'hurts'}: {listed}")
        neutral = judged[judged[f"{prefix}verdict"] == NO_EFFECT]
        if len(neutral):
            # The largest of their detectable differences: an effect below it may have gone unseen in one of them.
            said.append(f"no detectable effect: {'; '.join(neutral['arm'])} (the design detects about "
                        f"{neutral[f'{prefix}detectable_pp'].max():.1f} pp or more)")
        if said:
            sentences = ". ".join(f"{part[0].upper()}{part[1:]}" for part in said)
            parts.append(f"On {metric} (Holm-corrected over both metrics, alpha {ALPHA}): {sentences}.")
    pending = [f"{label} ({seeds} of {MIN_SEEDS} seeds)" if seeds else label
               for label, seeds in pending_arms(comparison)]
    if pending:
        parts.append(f"Not yet run with {MIN_SEEDS} seeds: {'; '.join(pending)}.")
    return " ".join(parts)
