"""Figures in one house style, shared by every notebook (tables: ``fer_study.book.presentation``).

Each plotting function takes plain data (a DataFrame or an array), returns its ``Figure`` and, when there
is nothing to draw (no committed runs yet, no cost recorded), draws a message saying so instead of
failing, so notebooks need no branches.
"""

import itertools
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from fer_study.analysis import ensemble, leaderboard
from fer_study.analysis.experiments import HELPS, HURTS, NO_EFFECT
from fer_study.analysis.verdicts import NOT_COMPARABLE, NOT_COMPARABLE_BUDGET
from fer_study.core.constants import CLASS_NAMES
from fer_study.runs import run_title

HOUSE_STYLE = {"context": "notebook", "style": "whitegrid", "palette": "colorblind", "font_scale": 0.9}
FIGURE_WIDTH = 9.0
NOTHING_TO_DRAW = "Nothing to draw yet: no committed runs."


def use_house_style() -> None:
    sns.set_theme(**HOUSE_STYLE)


def _grid(nrows: int, ncols: int, height: float, width: float,
          height_ratios: Sequence[float] | None = None) -> tuple[Figure, np.ndarray]:
    """A figure in the house style with a (nrows, ncols) array of axes."""
    use_house_style()
    figure, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, layout="constrained",
                                gridspec_kw={"height_ratios": height_ratios} if height_ratios else None)
    # Detached from pyplot: the notebook shows the returned figure once, not again as an open figure.
    plt.close(figure)
    return figure, axes


def _figure(ncols: int = 1, height: float = 4.0, width: float = FIGURE_WIDTH) -> tuple[Figure, np.ndarray]:
    """A figure with one row of ``ncols`` axes."""
    figure, axes = _grid(1, ncols, height, width)
    return figure, axes[0]


def message_figure(message: str, title: str | None = None) -> Figure:
    """A small figure holding only ``message``: what a plot shows when it has no data."""
    figure, (axes,) = _figure(height=1.6)
    axes.axis("off")
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize="large", wrap=True)
    if title:
        axes.set_title(title)
    return figure


def plot_history(history: pd.DataFrame, metrics: tuple[str, ...] = ("loss", "accuracy"),
                 show_lr: bool = True, title: str | None = None) -> Figure:
    """Learning curves from a run's ``history.csv``: one panel per metric with its ``train_`` and ``val_``
    columns, and the learning rate when recorded."""
    if history is None or history.empty:
        return message_figure(NOTHING_TO_DRAW, title)
    panels = [metric for metric in metrics if {f"train_{metric}", f"val_{metric}"} & set(history.columns)]
    if show_lr and "lr" in history.columns:
        panels.append("lr")
    epochs = history["epoch"] if "epoch" in history.columns else pd.Series(np.arange(1, len(history) + 1))
    figure, axes = _figure(ncols=len(panels), height=3.5)
    for ax, metric in zip(axes, panels, strict=True):
        columns = ["lr"] if metric == "lr" else [f"{prefix}_{metric}" for prefix in ("train", "val")
                                                 if f"{prefix}_{metric}" in history.columns]
        for column in columns:
            # Only train/val pairs need a legend; the learning-rate panel has one line.
            sns.lineplot(x=epochs, y=history[column], ax=ax, marker=".",
                         label=None if metric == "lr" else column.split("_")[0])
        ax.set(xlabel="epoch", ylabel=metric.replace("_", " "), title=metric.replace("_", " "))
    if title:
        figure.suptitle(title)
    return figure


def plot_histories(runs: list) -> list[Figure]:
    """The learning curves of each run (``runs.Run``), titled with its name and tier; one message figure
    when there is no run."""
    return [plot_history(run.history, title=f"{run_title(run.name)} ({run.metrics.tier} tier)") for run in runs] or [
        message_figure(NOTHING_TO_DRAW, "Learning curves")]


def plot_confusion(confusion, title: str | None = None, class_names: tuple[str, ...] = CLASS_NAMES,
                   normalize: bool = True) -> Figure:
    """Confusion-matrix heatmap, rows = true class. ``normalize`` shows each row in percent (its recall
    on the diagonal); the counts are still in the data, not lost. A DataFrame keeps its own row and
    column labels and axis names (e.g. FER2013 labels against FER+ labels)."""
    if confusion is None or len(confusion) == 0:
        return message_figure(NOTHING_TO_DRAW, title)
    frame = (confusion if isinstance(confusion, pd.DataFrame)
             else pd.DataFrame(np.asarray(confusion), index=class_names, columns=class_names))
    counts = frame.to_numpy(dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    values = 100 * np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0) if normalize else counts
    figure, (axes,) = _figure(height=5.5, width=6.5 + 0.5 * (counts.shape[1] - counts.shape[0]))
    colour_label = "% of true class" if normalize else "images"
    sns.heatmap(pd.DataFrame(values, index=frame.index, columns=frame.columns), annot=True, fmt=".0f",
                cmap="Blues", square=True, cbar_kws={"label": colour_label}, ax=axes)
    axes.set(xlabel=frame.columns.name or "predicted", ylabel=frame.index.name or "true", title=title or "")
    return figure


def plot_class_counts(counts: pd.DataFrame, x: str = "class", y: str = "count", hue: str | None = "split",
                      title: str | None = None) -> Figure:
    """Bar chart of images per class (one bar per ``hue`` value, e.g. split), from a long table."""
    if counts is None or counts.empty:
        return message_figure("No counts to draw.", title)
    order = [name for name in CLASS_NAMES if name in set(counts[x])] or None
    figure, (axes,) = _figure(height=4.0)
    sns.barplot(data=counts, x=x, y=y, hue=hue if hue in counts.columns else None, order=order, ax=axes)
    axes.set(xlabel="", ylabel=y.replace("_", " "), title=title or "")
    return figure


def plot_face_grid(images: np.ndarray, labels: np.ndarray, per_row: int = 8, title: str | None = None,
                   class_names: tuple[str, ...] = CLASS_NAMES, titles: Sequence[str] | None = None) -> Figure:
    """Faces (N, H, W; uint8 or floats in [0, 1]) in rows of ``per_row``, each titled with its class (or with
    ``titles``, one per face)."""
    images = np.asarray(images)
    if len(images) == 0:
        return message_figure("No images to draw.", title)
    rows = -(-len(images) // per_row)
    figure, grid = _grid(rows, per_row, height=1.2 * rows + 0.4, width=1.1 * per_row)
    brightest = 255 if images.dtype == np.uint8 else 1.0
    names = titles if titles is not None else [
        # Labels outside the class range are images a protocol leaves out (e.g. FER+ ties).
        class_names[int(label)] if 0 <= int(label) < len(class_names) else "excluded" for label in labels]
    for axes, image, name in itertools.zip_longest(grid.flat, images, names):
        axes.axis("off")
        if image is not None:
            axes.imshow(image.squeeze(), cmap="gray", vmin=0, vmax=brightest)
            axes.set_title(name, fontsize="small")
    if title:
        figure.suptitle(title)
    return figure


def plot_detections(scene: np.ndarray, faces: Sequence[tuple[int, int, int, int]],
                    found: dict[str, Sequence], per_row: int = 3) -> Figure:
    """A gray scene once per detector, its placed faces outlined in white and each detector's boxes
    (``Detection`` objects) in orange, titled with the faces it found out of those placed."""
    rows = -(-len(found) // per_row)
    figure, grid = _grid(rows, per_row, height=2.6 * rows + 0.3, width=FIGURE_WIDTH)
    colour = sns.color_palette(HOUSE_STYLE["palette"])[1]
    for axes, item in itertools.zip_longest(grid.flat, found.items()):
        axes.axis("off")
        if item is None:
            continue
        name, detections = item
        axes.imshow(scene, cmap="gray", vmin=0, vmax=255)
        for x, y, w, h in faces:
            axes.add_patch(plt.Rectangle((x, y), w, h, fill=False, edgecolor="white", linewidth=1, linestyle="--"))
        for detection in detections:
            x, y, w, h = detection.box
            axes.add_patch(plt.Rectangle((x, y), w, h, fill=False, edgecolor=colour, linewidth=2))
        axes.set_title(f"{name}: {len(detections)} boxes for {len(faces)} faces", fontsize="small")
    return figure


def plot_reliability(curves: dict[str, tuple[pd.DataFrame, pd.DataFrame]], title: str | None = None) -> Figure:
    """Reliability diagrams, one panel per model: accuracy against mean confidence per confidence bin
    (``diagnostics.reliability``), before (dots) and after temperature scaling (crosses); the diagonal is
    perfect calibration. ``curves``: model name -> (table before, table after)."""
    if not curves:
        return message_figure(NOTHING_TO_DRAW, title)
    figure, axes_row = _figure(ncols=len(curves), height=4.2)
    for axes, (name, (before, after)) in zip(axes_row, curves.items(), strict=True):
        axes.plot([0, 1], [0, 1], color="grey", linewidth=1)
        for table, marker, label in ((before, "o", "as trained"), (after, "x", "temperature-scaled")):
            shown = table.dropna()
            axes.plot(shown["confidence"], shown["accuracy"], marker=marker, label=label)
        axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean confidence in the bin", ylabel="accuracy in the bin",
                 title=name if len(name) < 40 else f"{name[:37]}...")
        axes.legend(loc="upper left", fontsize="small")
    if title:
        figure.suptitle(title)
    return figure


def plot_accuracy_vs_cost(points: pd.DataFrame, cost: str = "params", accuracy: str = "test_acc_pct",
                          title: str | None = None) -> Figure:
    """Accuracy against cost (log scale) for single models and ensembles, each point labelled."""
    drawable = points.dropna(subset=[cost, accuracy]) if points is not None else pd.DataFrame()
    if drawable.empty:
        return message_figure(f"No runs with a recorded {cost.replace('_', ' ')} yet.", title)
    figure, (axes,) = _figure(height=4.5)
    sns.scatterplot(data=drawable, x=cost, y=accuracy, hue="kind", style="kind", s=70, ax=axes)
    for _, point in drawable.iterrows():
        axes.annotate(point["label"], (point[cost], point[accuracy]), fontsize="x-small",
                      xytext=(4, 3), textcoords="offset points")
    axes.set_xscale("log")
    axes.set(xlabel=cost.replace("_", " ") + " (log scale)", ylabel="test accuracy %", title=title or "")
    return figure


def _by_label_set(frame: pd.DataFrame, datasets: str) -> list[tuple[str, pd.DataFrame]]:
    """The rows of ``frame`` per label set of its ``datasets`` column (``ensemble.label_set``), in order of first
    appearance: results on FER2013 and FER+ labels are different benchmarks, never put on one axis."""
    label_sets = frame[datasets].map(lambda names: ensemble.label_set(str(names)))
    return [(labels, frame[label_sets == labels]) for labels in dict.fromkeys(label_sets)]


def _panels(panels: list[tuple[str, pd.DataFrame]], row_height: float, extra: float) -> tuple[Figure, list]:
    """A figure with one full-width panel per label set, each as tall as its rows."""
    figure, axes = _grid(len(panels), 1, row_height * sum(len(rows) for _, rows in panels) + extra * len(panels),
                         FIGURE_WIDTH, height_ratios=[row_height * len(rows) + extra for _, rows in panels])
    return figure, list(axes[:, 0])


def plot_gains(table: pd.DataFrame, title: str | None = None) -> Figure:
    """Each ensemble's gain over its best member (points) with its paired bootstrap interval, one panel per
    label set."""
    if table is None or table.empty:
        return message_figure(NOTHING_TO_DRAW, title)
    panels = _by_label_set(table, "group")
    figure, axes_column = _panels(panels, 0.35, 1.2)
    for (labels, rows), axes in zip(panels, axes_column, strict=True):
        names = (rows["ensemble"] + " [" + rows["combiner"] + np.where(rows["tta"], " + TTA", "") + "] ("
                 + rows["group"] + ")")
        interval = np.vstack([rows["gain_pp"] - rows["gain_low"], rows["gain_high"] - rows["gain_pp"]])
        axes.errorbar(rows["gain_pp"], names, xerr=np.nan_to_num(interval), fmt="o", capsize=3)
        axes.axvline(0, color="grey", linewidth=1)
        axes.invert_yaxis()
        axes.set(xlabel=f"gain over the best member (validation-chosen), percentage points, on {labels}",
                 ylabel="")
    if title:
        figure.suptitle(title)
    return figure


def plot_claims(comparison: pd.DataFrame, reference: tuple[float, float] | None = None,
                reference_label: str = "human", title: str | None = None) -> Figure:
    """Claimed (open circles) and reproduced (filled, with the spread over seeds; grey for scaled variants,
    which are not compared) accuracy per row of ``claims.comparison_table``, one panel per label set, with an
    optional reference band (value, uncertainty) on FER2013's, e.g. human accuracy."""
    rows = comparison[comparison["metric"] == "accuracy"] if comparison is not None else pd.DataFrame()
    if rows.empty:
        return message_figure(NOTHING_TO_DRAW, title)
    panels = _by_label_set(rows, "dataset")
    figure, axes_column = _panels(panels, 0.3, 1.5)
    for (label_set, panel), axes in zip(panels, axes_column, strict=True):
        labels = [" / ".join(str(part) for part in (row["claim"] if pd.notna(row["claim"]) else "(no claim)",
                                                     row["model"] if pd.notna(row["model"]) else row["ensemble"],
                                                     row["dataset"], row["tier"]) if pd.notna(part))
                  for _, row in panel.iterrows()]
        positions = np.arange(len(panel))
        if reference is not None and label_set == ensemble.FER2013_LABELS:
            value, uncertainty = reference
            axes.axvspan(value - uncertainty, value + uncertainty, color="grey", alpha=0.15)
            axes.axvline(value, color="grey", linestyle="--", linewidth=1,
                         label=f"{reference_label} {value:g} ± {uncertainty:g} %")
        axes.scatter(panel["claimed"], positions, facecolors="none", edgecolors="C3", s=50, label="claimed",
                     zorder=3)
        compared = (~panel["verdict"].isin([NOT_COMPARABLE, NOT_COMPARABLE_BUDGET])).to_numpy()
        for mask, colour, label in ((compared, "C0", "reproduced"),
                                    (~compared, "grey", "scaled variant or CPU budget (not compared)")):
            if mask.any():
                axes.errorbar(panel["reproduced"][mask], positions[mask],
                              xerr=np.nan_to_num(panel["spread"][mask].astype(float)), fmt="o", color=colour,
                              capsize=3, label=label, zorder=4)
        axes.set_yticks(positions, labels, fontsize="x-small")
        axes.invert_yaxis()
        axes.set(xlabel=f"accuracy % on {label_set}")
        axes.legend(loc="lower right", fontsize="small")
    if title:
        figure.suptitle(title)
    return figure


VERDICT_COLOURS = {HELPS: "C2", HURTS: "C3", NO_EFFECT: "C7"}


# The metrics of a comparison table (``fer_study.analysis.experiments.METRICS``): column prefix and axis label.
_FOREST_METRICS = {"": "accuracy", "f1_": "macro-F1"}


def plot_forest(comparison: pd.DataFrame, title: str | None = None) -> Figure:
    """Each arm's difference from its base (points) with its 95 % interval over seeds and test images, one
    panel per metric (accuracy, macro-F1), coloured by its Holm-corrected verdict
    (``fer_study.analysis.experiments.compare_pairs``); arms without a verdict yet are listed, not drawn."""
    drawable = comparison.dropna(subset=["difference_pp"]) if comparison is not None and len(comparison) else None
    if drawable is None or drawable.empty:
        return message_figure("Nothing to draw yet: no arm has its seeds committed.", title)
    metrics = {prefix: name for prefix, name in _FOREST_METRICS.items() if f"{prefix}difference_pp" in drawable}
    figure, axes_row = _figure(ncols=len(metrics), height=0.45 * len(drawable) + 2.2)
    positions = np.arange(len(drawable))
    labels = [f"{row.arm} (n={row.seeds})" for row in drawable.itertuples()]
    for index, (axes, (prefix, name)) in enumerate(zip(axes_row, metrics.items(), strict=True)):
        difference, low, high = (drawable[f"{prefix}{column}"] for column in ("difference_pp", "low_pp", "high_pp"))
        for verdict, colour in VERDICT_COLOURS.items():
            mask = (drawable[f"{prefix}verdict"] == verdict).to_numpy()
            if mask.any():
                axes.errorbar(difference[mask], positions[mask],
                              xerr=[difference[mask] - low[mask], high[mask] - difference[mask]],
                              fmt="o", color=colour, capsize=3, label=verdict)
        axes.axvline(0, color="grey", linewidth=1)
        axes.set_yticks(positions, labels if index == 0 else [""] * len(labels))
        axes.invert_yaxis()
        axes.set(xlabel=f"{name} difference\nfrom the base (points)", ylabel="")
    # One legend for both panels, below them: inside a panel it covered the points of some arm.
    handles = {label: handle for axes in axes_row for handle, label in zip(*axes.get_legend_handles_labels(),
                                                                             strict=True)}
    figure.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=len(handles),
                  fontsize="small", title="Holm-corrected verdict", title_fontsize="small")
    figure.suptitle(f"{title or 'Arms against the base'}, on PrivateTest")
    return figure


# Line styles of the study's reference lines: single runs solid, ensembles dashed; TTA darker.
_REFERENCE_STYLE = {"single": "-", "ensemble": "--"}
# A fixed colour per protocol class (indices into the house palette), distinct for neighbouring classes.
_CLASS_COLOURS = dict(zip(leaderboard.PROTOCOL_CLASSES, (0, 2, 9, 3, 4, 7, 5), strict=True))


def plot_leaderboard(entries: pd.DataFrame, references: pd.DataFrame,
                     human: tuple[float, float] | None = None, title: str | None = None) -> Figure:
    """Claimed accuracy per entry (``leaderboard.entries_frame``), coloured by protocol class, with the runs of the
    public code that issue threads report (black ranges), the study's own results (``leaderboard.study_references``)
    as vertical lines, and an optional human-accuracy band (value, uncertainty)."""
    rows = entries[entries["claimed"].notna()].reset_index(drop=True)
    if rows.empty:
        return message_figure("No leaderboard entry claims a FER2013 accuracy.", title)
    figure, (axes,) = _figure(height=0.28 * len(rows) + 2.5)
    positions = np.arange(len(rows))
    if human is not None:
        value, uncertainty = human
        axes.axvspan(value - uncertainty, value + uncertainty, color="grey", alpha=0.12,
                     label=f"human {value:g} ± {uncertainty:g} %")
    colours = sns.color_palette(HOUSE_STYLE["palette"])
    for name in leaderboard.PROTOCOL_CLASSES:
        members = rows["protocol_class"] == name
        if members.any():
            axes.scatter(rows.loc[members, "claimed"], positions[members], color=colours[_CLASS_COLOURS[name]],
                         s=45, zorder=3, label=f"claimed: {name}")
    reproduced = rows["reproduced_low"].notna().to_numpy()
    if reproduced.any():
        axes.hlines(positions[reproduced], rows.loc[reproduced, "reproduced_low"] - 0.1,
                    rows.loc[reproduced, "reproduced_high"] + 0.1, color="black", linewidth=3, zorder=2,
                    label="runs of the public code (issue threads)")
    for _, reference in references.iterrows():
        axes.axvline(reference["test_acc_pct"], color="black" if reference["tta"] else "dimgrey",
                     linestyle=_REFERENCE_STYLE[reference["kind"]], linewidth=1,
                     label=f"this study, {reference['label']}: {reference['test_acc_pct']:.2f} %")
    axes.set_yticks(positions, rows["paper"], fontsize="x-small")
    axes.invert_yaxis()
    axes.set(xlabel="FER2013 accuracy % (as claimed; the study's on PrivateTest)", title=title or "")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize="x-small")
    return figure
