"""Tables that fit the book's content column: readable column names, runs by their plain titles, settings as
``key = value`` text, long tables sortable and searchable through itables (offline). ``show`` displays a
table wherever it stands in a notebook cell."""

import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from fer_study.book import plots
from fer_study.core.constants import CLASS_NAMES
from fer_study.runs import run_titles_text

# Rows above which a table is shown sortable, searchable and paged (itables) instead of in full.
INTERACTIVE_MIN_ROWS = 15

# The comparison table's columns as a reader reads them (``claims.COMPARISON_COLUMNS`` and the chapters'
# run and ensemble tables); columns not named here keep their own name, underscores as spaces.
READABLE_NAMES = {
    "claim": "Claim", "id": "Claim", "tta": "TTA", "notes": "Notes", "paper": "Paper", "model": "Model",
    "ensemble": "Ensemble", "dataset": "Dataset",
    "split": "Split", "metric": "Metric", "claimed": "Claimed (%)", "reproduced": "Reproduced (%)",
    "spread": "Seed s.d. (points)", "n_runs": "Runs", "difference": "Difference (points)", "tier": "Tier",
    "device": "Device", "claim_tta": "Claim's TTA", "run_tta": "Runs' TTA", "pretraining": "Pretraining",
    "extra_data": "Extra data", "verdict": "Verdict", "note": "Notes", "group": "Evaluated on",
    "combiner": "Combiner", "n_members": "Members", "members": "Member runs", "val_acc_pct": "Validation (%)",
    "test_acc_pct": "Test (%)", "test_acc_low": "Test low (%)", "test_acc_high": "Test high (%)",
    "test_acc_tta_pct": "Test, TTA (%)", "macro_f1_pct": "Macro-F1 (%)", "best_member": "Best member",
    "best_member_test_acc_pct": "Best member test (%)", "gain_pp": "Gain (points)",
    "gain_low": "Gain low (points)", "gain_high": "Gain high (points)", "train_minutes": "Training (min)",
    "params": "Parameters", "cpu_ms_per_image": "CPU ms / image", "selected_epoch": "Selected epoch",
    # The seeded experiments' summaries and comparisons (fer_study.analysis.experiments).
    "arm": "Arm", "base": "Compared with", "seeds": "Seeds", "epochs": "Epochs", "acc_mean": "Accuracy (%)",
    "acc_sd": "Accuracy s.d. (points)", "macro_f1_mean": "Macro-F1 (%)", "macro_f1_sd": "Macro-F1 s.d. (points)",
    "train_acc_mean": "Final train accuracy (%)", "own_test_acc": "Own test split (%)",
    "difference_pp": "Accuracy difference (points)", "low_pp": "Accuracy low", "high_pp": "Accuracy high",
    "p_value": "p (accuracy)", "p_holm": "Holm p (accuracy)", "detectable_pp": "Detectable, accuracy (points)",
    "f1_difference_pp": "Macro-F1 difference (points)", "f1_low_pp": "Macro-F1 low", "f1_high_pp": "Macro-F1 high",
    "f1_p_value": "p (macro-F1)", "f1_p_holm": "Holm p (macro-F1)", "f1_verdict": "Macro-F1 verdict",
    "f1_detectable_pp": "Detectable, macro-F1 (points)",
    "interval_pp": "Accuracy difference (points) [95 % interval]",
    "f1_interval_pp": "Macro-F1 difference (points) [95 % interval]",
    "final_train_acc_pct": "Final train accuracy (%)", "why_not_evidence": "Why it is not evidence",
    "quantity": "Quantity", "value": "Value", "measured": "Measured", "verdicts": "Verdicts",
    "known_problems": "Known problems",
    # The best models' diagnostics (fer_study.analysis.diagnostics).
    "temperature": "Temperature (fitted on PublicTest)", "ece_pct": "ECE (%)", "ece_scaled_pct": "ECE, scaled (%)",
    "nll": "Log loss", "nll_scaled": "Log loss, scaled", "faces": "Faces",
    "fer2013_acc_pct": "Accuracy on FER2013 labels (%)", "ferplus_acc_pct": "Accuracy on FER+ labels (%)",
    "errors_ferplus_calls_right_pct": "Errors FER+ calls right (%)",
    "kind": "Kind", "label": "Label", "what": "What",
    "run": "Run", "status": "Status", "to_add": "to add", "build_seconds": "Build (s)", "no_face": "No face",
    "several_faces": "Several faces",
    **{f"recall_{name}": f"Recall {name} (%)" for name in CLASS_NAMES},
}


# Columns whose cells name runs (one, or several joined by ", " or held in a tuple) or recipes (an experiment's
# "base"): a reader sees their titles.
RUN_NAME_COLUMNS = ("run", "runs", "members", "best_member", "student", "twin", "teachers", "missing_teachers",
                    "base")


def titled(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the runs named in ``RUN_NAME_COLUMNS`` shown by their titles."""
    def shown(value):
        return value if is_missing(value) else run_titles_text(value)
    return frame.assign(**{column: frame[column].map(shown) for column in RUN_NAME_COLUMNS if column in frame.columns})


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with readable column (and index) names."""
    def name(column):
        return READABLE_NAMES.get(column, str(column).replace("_", " ")) if isinstance(column, str) else column
    renamed = frame.rename(columns=name)
    renamed.index = renamed.index.set_names([name(level) if level else level for level in renamed.index.names])
    return renamed


def settings_text(settings: Mapping | str) -> str:
    """Settings as ``key = value`` pairs joined by ``; `` (a JSON object string is read first)."""
    if isinstance(settings, str):
        settings = json.loads(settings)
    return "; ".join(f"{key} = {value}" for key, value in settings.items())


class FittedTable:
    """A table that fits the content column: its HTML wraps inside a horizontally scrolling block (never
    wider than the column), long tables are sortable, searchable and paged (itables, offline), and plain
    text is shown wherever only text is read."""

    def __init__(self, frame: pd.DataFrame, precision: int = 1, caption: str | None = None,
                 interactive: bool | None = None, page_length: int = 10, wide: Sequence[str] = ()) -> None:
        self.frame, self.precision, self.caption, self.page_length = frame, precision, caption, page_length
        self.wide = [column for column in wide if column in frame.columns]
        self.show_index = any(name is not None for name in frame.index.names)
        self.interactive = len(frame) > INTERACTIVE_MIN_ROWS if interactive is None else interactive

    def _formatted(self) -> pd.DataFrame:
        frame = self.frame.reset_index() if self.show_index else self.frame
        return frame.apply(lambda column: column.map(
            lambda value: "" if is_missing(value) else f"{value:,.{self.precision}f}"
            if isinstance(value, float | np.floating) else str(value)))

    def _repr_html_(self) -> str:
        caption = f"<p class='fer-table-caption'>{self.caption}</p>" if self.caption else ""
        if self.interactive:
            from itables import to_html_datatable

            formatted = self._formatted()
            wide = [{"targets": [list(formatted.columns).index(column) for column in self.wide],
                     "className": "fer-wide"}] if self.wide else []
            body = to_html_datatable(formatted, connected=False, classes="display compact", columnDefs=wide,
                                     lengthMenu=sorted({10, 25, 100, self.page_length}),
                                     pageLength=self.page_length, autoWidth=False,
                                     display_logo_when_loading=False)
        else:
            styler = self.frame.style.format(precision=self.precision, na_rep="", thousands=",")
            styler = styler.set_properties(subset=self.wide, **{"min-width": "22em"}) if self.wide else styler
            body = (styler if self.show_index else styler.hide(axis="index")).to_html()
        return f"<div class='fer-table'>{caption}{body}</div>"

    def __repr__(self) -> str:
        return self.frame.to_string(index=self.show_index, na_rep="",
                                    float_format=lambda value: f"{value:.{self.precision}f}")


def is_missing(value) -> bool:
    """None or NaN: a cell with nothing to show."""
    return value is None or (isinstance(value, float | np.floating) and np.isnan(value))


# Columns of free text, given a readable measure wherever they are shown.
WIDE_COLUMNS = (
    "note", "notes", "members", "runs", "pretraining", "extra_data", "settings", "measured", "known_problems",
    # The leaderboard's tables (fer_study.analysis.leaderboard), which name their columns for reading already.
    "protocol (* inferred from the code)", "reproduced elsewhere", "this study (PrivateTest %)", "checked",
    "sources")


def table(frame: pd.DataFrame | None, columns: Sequence[str] | None = None, precision: int = 1,
          caption: str | None = None, interactive: bool | None = None, page_length: int = 10,
          empty_message: str = plots.NOTHING_TO_DRAW) -> "FittedTable | Markdown":
    """``frame`` (only ``columns``, when given) with readable names, fitted to the content column (free-text
    ``WIDE_COLUMNS`` at a readable width, the table scrolling sideways when it needs to); the message in
    bold when there is nothing to show."""
    if frame is None or frame.empty:
        return Markdown(f"**{empty_message}**")
    frame = titled(frame if columns is None else frame[list(columns)])
    wide = [readable(frame[[column]]).columns[0] for column in WIDE_COLUMNS if column in frame.columns]
    return FittedTable(readable(frame), precision, caption, interactive, page_length, wide)


def show(frame: pd.DataFrame | None, columns: Sequence[str] | None = None, precision: int = 1,
         caption: str | None = None, interactive: bool | None = None, page_length: int = 10,
         empty_message: str = plots.NOTHING_TO_DRAW) -> None:
    """Display ``table(...)`` in the cell's output wherever the call stands in the cell (a value Jupyter
    shows only as a cell's last expression would be lost after it), loading the offline DataTables library
    first when the table is the notebook's first interactive one."""
    shown = table(frame, columns, precision, caption, interactive, page_length, empty_message)
    if isinstance(shown, FittedTable) and shown.interactive:
        _load_interactive_tables()
    display(shown)


_interactive_tables_loaded = False


def _load_interactive_tables() -> None:
    """Embed the DataTables library that ``FittedTable`` uses in the page, once per notebook (kernel): no
    network is needed, and no chapter needs a setup cell of its own."""
    global _interactive_tables_loaded
    if not _interactive_tables_loaded:
        from itables import init_notebook_mode

        init_notebook_mode(all_interactive=False, connected=False)
        _interactive_tables_loaded = True
