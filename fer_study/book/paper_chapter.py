"""The skeleton the per-paper chapters (notebooks 03-05) share: one call per section, so that a chapter holds
only its prose, its parameters and what is its own (ResEmoteNet's experiments, PAtt-Lite's batch demo).

Sections, in the chapters' order: the paper's claims; the models; the recipes; the runs (trained or loaded
by the notebook, since this layer never trains); learning curves; confusion matrices; claimed vs reproduced
(the table, the chapter's glued answer and the figure); the models' documented deviations. Each section keeps
its Markdown heading in the notebook, so the page's table of contents lists it.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from IPython.display import Markdown, display
from matplotlib.figure import Figure
from myst_nb import glue

from fer_study.analysis.claims import ClaimSet, load_claims, reference_level
from fer_study.book import plots, presentation, report, tables
from fer_study.runs import Run, load_runs

# The MyST-NB glue key of a chapter's answer, which its opening paragraph quotes.
ANSWER_KEY = "chapter_answer"


@dataclass
class PaperChapter:
    """A paper family's chapter: ``title`` heads its figure, ``subject`` is what its answer names ("the
    Residual Masking Network family"); its claims are those whose id starts with one of ``claim_prefixes``,
    its models the registered ``models``."""

    title: str
    subject: str
    claim_prefixes: tuple[str, ...]
    models: tuple[str, ...]
    runs_dir: str | Path | None = None
    bootstrap_samples: int = 1000
    seed: int = 0
    claim_set: ClaimSet = field(default_factory=load_claims)

    def claims(self) -> None:
        """The family's claims, as data."""
        tables.show(report.paper_claims(self.claim_prefixes, self.claim_set), precision=2)

    def models_table(self) -> None:
        """The chapter's models: parameters, input side, role."""
        tables.show(report.model_summary(list(self.models)), precision=2)

    @staticmethod
    def recipes(runs: Sequence[str]) -> None:
        """The training settings of ``runs``, from their config files."""
        tables.show(report.recipe_table(runs), precision=2)

    def runs(self, runs: Sequence[str]) -> None:
        """The committed runs among ``runs``: where and how long each trained, and its scores."""
        tables.show(report.runs_table(runs, self.runs_dir), precision=2)

    @staticmethod
    def curves(loaded: Sequence[Run]) -> None:
        """Each loaded run's learning curves."""
        for figure in plots.plot_histories(loaded):
            display(figure)

    @staticmethod
    def confusion(loaded: Sequence[Run], datasets: Sequence[str] = ("fer2013",)) -> None:
        """The PrivateTest confusion matrix of the validation-best run of each of ``datasets``."""
        for dataset in datasets:
            display(plots.plot_confusion(*report.best_confusion(loaded, dataset)))

    def comparison(self, glue_answer: bool = True) -> Figure:
        """The family's rows of the claims comparison (chapter 7's table), the chapter's answer glued under
        ``ANSWER_KEY`` when ``glue_answer``, and the figure of claimed against reproduced accuracy."""
        rows = report.paper_comparison(self.claim_prefixes, self.models, self.runs_dir, self.claim_set,
                                       self.bootstrap_samples, self.seed)
        tables.show(rows, report.SECTION_COMPARISON_COLUMNS, precision=2)
        if glue_answer:
            glue(ANSWER_KEY, presentation.chapter_answer(presentation.headline(rows, load_runs(self.runs_dir)),
                                                         self.subject), display=False)
        return plots.plot_claims(rows, reference_level("human", self.claim_set), reference_label="human (FER2013)",
                                 title=f"{self.title}: claimed (open) and reproduced (filled) accuracy")

    def deviations(self, models: Sequence[str] | None = None) -> Markdown:
        """The deviations from the paper that the modules of ``models`` (default: the chapter's) document."""
        return Markdown("\n\n".join(report.deviation_notes(name) for name in models or self.models))
