"""The recognition chapter's detector choice as a reader reads it: the committed
``python -m fer_study.bench detect`` table with one column per detector, and the rule's decision in words
(``fer_study.bench.detect`` measures and decides; this module only words and shapes).
"""

import pandas as pd

from fer_study.apps.recognize.detectors import DEFAULT_DETECTOR, DETECTOR_TITLES, REAL_TIME_FPS
from fer_study.bench import detect


def detector_table(table: pd.DataFrame) -> pd.DataFrame:
    """A ``python -m fer_study.bench detect`` table as a reader reads it: one column per detector (by its
    title), one row per measure; shares in percent, boxes per 100 scenes, speeds with their units."""
    shown = pd.DataFrame({"Detector": table["detector"].map(DETECTOR_TITLES)})
    for column in table.columns.drop("detector"):
        if column.startswith("recall, "):
            shown[f"Recall, {column.removeprefix('recall, ')} face (%)"] = 100 * table[column]
    shown["Group scenes: recall (%)"] = 100 * table[detect.RULE_RECALL]
    shown["Group scenes: right face count (%)"] = 100 * table["group right face count"]
    shown["False boxes per 100 scenes"] = 100 * table["group false boxes per scene"]
    shown["Duplicate boxes per 100 scenes"] = 100 * table["group duplicate boxes per scene"]
    shown["Detection (CPU ms)"] = table["detection CPU ms"]
    shown["Photos (frames/s)"] = table[detect.PHOTO_FPS]
    shown["Video (frames/s)"] = table[detect.VIDEO_FPS]
    return shown.set_index("Detector").T.rename_axis(index="Measure", columns=None).reset_index()


def detector_decision(measured_by: str, table: pd.DataFrame) -> str:
    """The default detector's choice in words, from a ``python -m fer_study.bench detect`` table: the rule's
    pick with its recall and speed, and the detectors that find more faces but are too slow for it."""
    chosen = detect.choose_detector(table)
    if chosen is None:
        return (f"No detector's video pipeline kept {REAL_TIME_FPS} frames/s in this measurement ({measured_by}); "
                f"the recognizer's default is {_detector_name(DEFAULT_DETECTOR)}.")
    rows = table.set_index("detector")
    pick = rows.loc[chosen]
    better = rows[rows[detect.RULE_RECALL] > pick[detect.RULE_RECALL]]
    slower = "; ".join(f"{_detector_name(name)} finds more ({row[detect.RULE_RECALL]:.1%} of group-scene faces) "
                       f"but its video pipeline reaches {row[detect.VIDEO_FPS]:.1f} frames/s"
                       for name, row in better.iterrows())
    provenance, _, command = measured_by.partition("; command: ")
    return (f"Measured at {provenance}, by `{command}`.\n\nThe rule picks {_detector_name(chosen)}: "
            f"{pick[detect.RULE_RECALL]:.1%} of the faces in group scenes found, {pick['recall, 64 px']:.1%} of single "
            f"64-pixel faces, {pick['group false boxes per scene']:.2f} false boxes per scene, and "
            f"{pick[detect.VIDEO_FPS]:.1f} frames/s on video ({pick[detect.PHOTO_FPS]:.1f} on photos, detecting every "
            "frame). " + (f"{slower}. " if slower else "")
            + f"The recognizer's default detector is {_detector_name(DEFAULT_DETECTOR)}. CPU times depend on the "
            "machine: on a faster one the rule may pick another detector; rerunning the benchmark there says which.")


def _detector_name(name: str) -> str:
    return f"**{DETECTOR_TITLES[name]}** (`--detector {name}`)"
