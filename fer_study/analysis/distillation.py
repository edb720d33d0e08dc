"""Distilled students against their teachers and their undistilled twins, from run folders alone.

A student is a run whose metrics name its ``teachers`` (``fer_study.train.distill``); its *twin* is the run of
the same recipe and seed trained on the labels alone, so the student's difference from it is distillation's
effect for that seed. Intervals are paired bootstraps over the test images (``fer_study.core.metrics``).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from fer_study.analysis.ensemble import check_aligned, mean_softmax
from fer_study.core import metrics as metrics_module
from fer_study.runs import Run, accuracy

# The settings a distilled student adds to its recipe; the rest of its config is the recipe's.
DISTILLATION_SETTINGS = frozenset({"run_name", "distill_from", "distill_temperature", "distill_weight"})


@dataclass(frozen=True, eq=False)
class DistillationResult:
    """A distilled student (a run whose metrics name its ``teachers``) against its teachers' mean-softmax
    ensemble and against its *twin*: the run of the same recipe and seed trained on the labels alone."""

    student: Run
    teachers: tuple[Run, ...]  # those of the student's teachers that are among the runs
    missing_teachers: tuple[str, ...]
    twin: Run | None
    gain: float  # student minus twin, test accuracy (NaN without a twin)
    gain_interval: tuple[float, float]  # paired bootstrap over test images (NaN without a twin or samples)

    @property
    def teacher_test_accuracy(self) -> float:
        if not self.teachers or self.missing_teachers:
            return float("nan")
        mean = mean_softmax([run.logits("test") for run in self.teachers])
        return float((mean.argmax(axis=1) == self.student.labels("test")).mean())


def undistilled_twin(student: Run, runs: Sequence[Run]) -> Run | None:
    """The run whose config is the student's but for its name and the distillation settings, trained
    without teachers: the student's difference from it is distillation's effect (for that one seed)."""
    def recipe(run: Run) -> dict:
        return {key: value for key, value in run.config.items() if key not in DISTILLATION_SETTINGS}
    return next((run for run in runs if run.name != student.name and run.config.get("distill_from") is None
                 and recipe(run) == recipe(student)), None)


def distillation_results(runs: Sequence[Run], bootstrap_samples: int = 1000, seed: int = 0,
                         level: float = 0.95) -> list[DistillationResult]:
    """One result per distilled student among ``runs``, in name order."""
    by_name = {run.name: run for run in runs}
    results = []
    for student in [run for run in runs if run.metrics.teachers]:
        names = list(student.metrics.teachers)
        twin = undistilled_twin(student, runs)
        gain, interval = float("nan"), (float("nan"), float("nan"))
        if twin is not None:
            check_aligned([student, twin])
            if bootstrap_samples:
                gain, *interval = metrics_module.paired_bootstrap_gain(
                    student.labels("test"), student.logits("test"), twin.logits("test"), bootstrap_samples, level,
                    seed)
            else:
                gain = accuracy(student, "test") - accuracy(twin, "test")
        results.append(DistillationResult(
            student, tuple(by_name[name] for name in names if name in by_name),
            tuple(name for name in names if name not in by_name), twin, float(gain), tuple(interval)))
    return results
