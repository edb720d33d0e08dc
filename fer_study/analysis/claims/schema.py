"""The claims file (``fer_study/analysis/claims.yaml``): every number the report and the papers claim, as data,
validated field by field (``ClaimError`` names the claim and the field), with the scaled variants and
the TTA equivalences the comparison needs.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from fer_study.analysis import ensemble
from fer_study.core.schema import Field, check_fields, is_entry_id, is_name, is_text

CLAIMS_PATH = Path(__file__).parent.with_name("claims.yaml")
SPLITS = ("PrivateTest", "PublicTest", "own", "unclear")
METRICS = ("accuracy", "gain")
TTA_KINDS = ("none", "random-flip", "ten-crop", "flip-rot-10", "flip-rot-8", "grid-62", "unclear")
# Claimed protocols that average several test views; a reproduction then uses its TTA logits.
MULTI_VIEW_TTA = ("ten-crop", "flip-rot-10", "flip-rot-8", "grid-62")
ENSEMBLES = (ensemble.RMN_STYLE, ensemble.SNAPSHOT)


class ClaimError(ValueError):
    """A malformed claims file; the message names the claim and the field."""



def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


# field: (required, check, what the check expects)
CLAIM_FIELDS: dict[str, Field] = {
    "id": (True, is_entry_id, "lower-case words joined by dashes"),
    "paper": (True, is_text, "non-empty text"),
    "model": (True, lambda v: v is None or is_name(v),
              "a registered model name or null"),
    "ensemble": (False, lambda v: v is None or v in ENSEMBLES, f"null or one of {ENSEMBLES}"),
    "dataset": (True, is_name, "a dataset name"),
    "split": (True, lambda v: v in SPLITS, f"one of {SPLITS}"),
    "metric": (True, lambda v: v in METRICS, f"one of {METRICS}"),
    "value": (True, lambda v: _number(v) and -100 <= v <= 100, "a number of percent (points for a gain)"),
    "uncertainty": (False, lambda v: _number(v) and v >= 0, "a non-negative number"),
    "protocol": (True, lambda v: isinstance(v, dict), "a mapping with tta, views and crops"),
    "pretraining": (True, is_text, "non-empty text ('none' if from scratch)"),
    "extra_data": (True, is_text, "non-empty text ('none' if none)"),
    "source": (True, is_text, "non-empty text"),
    "notes": (True, is_text, "non-empty text"),
    # Why the claimed number cannot stand whatever a rerun gives (a leak, a withdrawn model): such a claim is
    # listed, never quoted as what a paper achieved.
    "invalid": (False, is_text, "non-empty text: why the claimed number cannot stand"),
    "reference": (False, lambda v: isinstance(v, bool), "true or false"),
    "match": (False, lambda v: isinstance(v, dict) and all(isinstance(key, str) for key in v),
              "a mapping of metrics.json keys to values"),
}
PROTOCOL_FIELDS: dict[str, Field] = {
    "tta": (True, lambda v: v in TTA_KINDS, f"one of {TTA_KINDS}"),
    "views": (True, lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0),
              "a positive integer or null"),
    "crops": (True, lambda v: v is None or is_text(v), "text or null"),
}


@dataclass(frozen=True)
class ClaimSet:
    claims: list[dict]
    scaled_variants: dict[str, str]  # variant model -> the paper model it shrinks
    tta_equivalents: dict[str, str]  # claimed TTA kind -> the run TTA mode that implements it

    def by_id(self, claim_id: str) -> dict:
        return next(claim for claim in self.claims if claim["id"] == claim_id)


def validate_claim(entry, index: int = 0) -> None:
    """Raise ``ClaimError`` naming the claim id (or its position) and the field when an entry is malformed."""
    if not isinstance(entry, dict):
        raise ClaimError(f"claim #{index}: expected a mapping of fields, got {entry!r}")
    where = f"claim {entry['id']!r}" if isinstance(entry.get("id"), str) else f"claim #{index}"
    check_fields(entry, CLAIM_FIELDS, where, ClaimError)
    check_fields(entry["protocol"], PROTOCOL_FIELDS, f"{where}: protocol", ClaimError)
    if entry["metric"] == "gain" and not entry.get("ensemble"):
        raise ClaimError(f"{where}: field 'ensemble': a gain claim must name the ensemble it is about")
    if entry.get("reference") and entry.get("ensemble"):
        raise ClaimError(f"{where}: field 'reference': a reference level cannot be an ensemble claim")


def validate_claims(document) -> ClaimSet:
    if not isinstance(document, dict) or not isinstance(document.get("claims"), list):
        raise ClaimError("claims file: expected a mapping with a 'claims' list")
    seen: set[str] = set()
    for index, entry in enumerate(document["claims"]):
        validate_claim(entry, index)
        if entry["id"] in seen:
            raise ClaimError(f"claim {entry['id']!r}: field 'id': duplicate id")
        seen.add(entry["id"])
    variants = document.get("scaled_variants", {})
    if not isinstance(variants, dict) or not all(is_name(k) and is_name(v)
                                                 for k, v in variants.items()):
        raise ClaimError("claims file: field 'scaled_variants': expected a mapping of model names")
    equivalents = document.get("tta_equivalents", {})
    if not isinstance(equivalents, dict) or not set(equivalents) <= set(TTA_KINDS):
        raise ClaimError(f"claims file: field 'tta_equivalents': keys must be among {TTA_KINDS}")
    return ClaimSet(document["claims"], dict(variants), dict(equivalents))


def load_claims(path: Path = CLAIMS_PATH) -> ClaimSet:
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ClaimError(f"{path}: cannot read claims ({error})") from error
    try:
        return validate_claims(document)
    except ClaimError as error:
        raise ClaimError(f"{path}: {error}") from None


def claims_frame(claims: ClaimSet | None = None) -> pd.DataFrame:
    """The claims as a table, protocol fields flattened to ``tta``, ``views`` and ``crops``."""
    claims = claims or load_claims()
    rows = [{key: value for key, value in claim.items() if key not in ("protocol", "match")}
            | claim["protocol"] for claim in claims.claims]
    return pd.DataFrame(rows)


def reference_level(claim_id: str = "human", claims: ClaimSet | None = None) -> tuple[float, float]:
    """A reference claim's value and uncertainty (0 when none is given), e.g. human accuracy."""
    claim = (claims or load_claims()).by_id(claim_id)
    return float(claim["value"]), float(claim.get("uncertainty", 0.0))
