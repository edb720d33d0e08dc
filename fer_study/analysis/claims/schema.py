"""The two files of claimed numbers, validated field by field by one schema and read by one loader:

- ``fer_study/analysis/claims.yaml``: every number the report and the papers claim, with the scaled variants
  and the TTA equivalences the comparison needs (``load_claims``);
- ``fer_study/analysis/leaderboard.yaml``: every published FER2013 result with the protocol facts that decide
  whether it is comparable (``load_leaderboard``). An entry that is a paper claim of the claims file names it
  (``claim: <id>``) instead of restating it: the loader fills its number and test protocol from the claim
  (``leaderboard_facts``), so a claimed number has one source.

A malformed entry is refused with a ``ClaimError`` naming the file, the entry and the field.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from fer_study.analysis import ensemble
from fer_study.core.schema import Field, check_fields, is_entry_id, is_name, is_text

CLAIMS_PATH = Path(__file__).parent.with_name("claims.yaml")
LEADERBOARD_PATH = Path(__file__).parent.with_name("leaderboard.yaml")
SPLITS = ("PrivateTest", "PublicTest", "own", "unclear")
METRICS = ("accuracy", "gain")
TTA_KINDS = ("none", "random-flip", "ten-crop", "flip-rot-10", "flip-rot-8", "grid-62", "unclear")
# Claimed protocols that average several test views; a reproduction then uses its TTA logits.
MULTI_VIEW_TTA = ("ten-crop", "flip-rot-10", "flip-rot-8", "grid-62")
ENSEMBLES = (ensemble.RMN_STYLE, ensemble.SNAPSHOT)


class ClaimError(ValueError):
    """A malformed claims or leaderboard file; the message names the file, the entry and the field."""


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


def _load(path: str | Path, validate, *args):
    """The one loader of both files: ``validate(document, *args)`` on the YAML document at ``path``, every
    error prefixed with the file."""
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ClaimError(f"{path}: cannot read ({error})") from error
    try:
        return validate(document, *args)
    except ClaimError as error:
        raise ClaimError(f"{path}: {error}") from None


def load_claims(path: str | Path = CLAIMS_PATH) -> ClaimSet:
    return _load(path, validate_claims)


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


# --- The leaderboard file ----------------------------------------------------------------------------

UNKNOWN = "unknown"
NONE = "none"
STANDARD_TEST = "PrivateTest"
STANDARD_SELECTION = "PublicTest"
ENTRY_SPLITS = (STANDARD_TEST, STANDARD_SELECTION, "Public+Private", "own", UNKNOWN)
TTA_STATES = (NONE, "used", UNKNOWN)
VERIFICATION = ("verified", "partly verified", "not re-verified")
# An ensemble whose member count the source does not give.
SEVERAL = "several"

# The protocol classes (``fer_study.analysis.leaderboard.protocol_class`` holds the rules that assign them);
# the file describes exactly these, so a class added on one side only is refused.
NO_RESULT = "no FER2013 result"
WRONG_SPLIT = "wrong split or test-selected"
EXTRA_DATA = "extra data"
ENSEMBLE = "ensemble"
UNVERIFIABLE = "unverifiable"
STANDARD_PLUS = "standard + TTA/pretraining"
STANDARD = "standard"
# Display order: the comparable classes first.
PROTOCOL_CLASSES = (STANDARD, STANDARD_PLUS, ENSEMBLE, WRONG_SPLIT, EXTRA_DATA, UNVERIFIABLE, NO_RESULT)


def _percent(value) -> bool:
    return _number(value) and 0 <= value <= 100


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _used_or_not(value) -> bool:
    """``none``, ``unknown``, or text naming what was used: "none stated" would read as used, so it is refused."""
    return is_text(value) and (value in (NONE, UNKNOWN) or value.split()[0].lower() not in (NONE, UNKNOWN))


def _texts(value) -> bool:
    return isinstance(value, list) and all(is_text(item) for item in value)


ENTRY_FIELDS: dict[str, Field] = {
    "id": (True, is_entry_id, "lower-case words joined by dashes"),
    "claim": (False, is_entry_id, "the id of a FER2013 accuracy claim in claims.yaml"),
    "paper": (True, is_text, "non-empty text"),
    "title": (True, is_text, "non-empty text"),
    "year": (True, lambda v: isinstance(v, int) and 1990 <= v <= 2100, "a year"),
    "claimed_accuracy": (True, lambda v: v is None or _percent(v), "a percentage, or null when none is claimed"),
    "split": (True, lambda v: v in ENTRY_SPLITS, f"one of {ENTRY_SPLITS}"),
    "selection_split": (True, lambda v: v in ENTRY_SPLITS, f"one of {ENTRY_SPLITS}"),
    "tta": (True, lambda v: v in TTA_STATES, f"one of {TTA_STATES}"),
    "tta_views": (True, lambda v: _count(v) or v == UNKNOWN, f"a positive integer or {UNKNOWN!r}"),
    "pretraining": (True, _used_or_not, f"exactly {NONE!r} or {UNKNOWN!r}, or what the weights were trained on"),
    "extra_data": (True, _used_or_not, f"exactly {NONE!r} or {UNKNOWN!r}, or what was added"),
    "members": (True, lambda v: _count(v) or v in (SEVERAL, UNKNOWN),
                f"a positive integer, {SEVERAL!r} or {UNKNOWN!r}"),
    "input_size": (True, is_text, "non-empty text"),
    "code": (True, is_text, "non-empty text"),
    "weights": (True, is_text, "non-empty text"),
    "known_problems": (True, _texts, "a list of texts (empty if none)"),
    "reproductions": (True, lambda v: isinstance(v, list), "a list of {low, high, setting, source}"),
    "sources": (True, lambda v: _texts(v) and len(v) > 0, "a non-empty list of texts"),
    "inferred": (False, lambda v: isinstance(v, list) and set(v) <= set(ENTRY_FIELDS), "a list of field names"),
    "verification": (True, lambda v: isinstance(v, dict), "a mapping with status and checked"),
    "pwc_rank": (True, lambda v: v is None or _count(v), "a rank or null"),
    "study_model": (False, is_name, "a registered model name"),
}
REPRODUCTION_FIELDS: dict[str, Field] = {
    "low": (True, _percent, "a percentage"),
    "high": (True, _percent, "a percentage"),
    "setting": (True, is_text, "non-empty text"),
    "source": (True, is_text, "non-empty text (the issue or paper)"),
}
VERIFICATION_FIELDS: dict[str, Field] = {
    "status": (True, lambda v: v in VERIFICATION, f"one of {VERIFICATION}"),
    "checked": (True, lambda v: _texts(v) and len(v) > 0, "a non-empty list of what was read"),
}
# The facts of an entry that the claim it names decides: the number and the test protocol. Such an entry
# never states them itself (``leaderboard_facts`` derives them), so the two files cannot disagree on them.
CLAIMED_FACTS = ("claimed_accuracy", "split", "tta", "tta_views")


def leaderboard_facts(claim: dict) -> dict:
    """A claim's number and test protocol (``CLAIMED_FACTS``) in the leaderboard's words. The leaderboard
    asks whether several test views are averaged: ``random-flip`` (one randomly flipped view per image, as
    ResEmoteNet's test.py does) averages none, so it reads ``tta: none`` with one view, like ``none``; the
    multi-view protocols read ``used`` with their views; ``unclear`` reads ``unknown``."""
    kind = claim["protocol"]["tta"]
    tta = UNKNOWN if kind == "unclear" else "used" if kind in MULTI_VIEW_TTA else NONE
    return {"claimed_accuracy": claim["value"], "split": UNKNOWN if claim["split"] == "unclear" else claim["split"],
            "tta": tta, "tta_views": 1 if tta == NONE else claim["protocol"]["views"] or UNKNOWN}


@dataclass(frozen=True)
class Leaderboard:
    entries: list[dict]  # every entry with its claimed facts filled in (``validate_entry``)
    class_descriptions: dict[str, str]  # protocol class -> the sentence that explains it

    def by_id(self, entry_id: str) -> dict:
        return next(entry for entry in self.entries if entry["id"] == entry_id)


def _with_claimed_facts(entry: dict, where: str, claims: ClaimSet) -> dict:
    """``entry`` with the facts of the claim it names (``CLAIMED_FACTS``); refused when it restates one of
    them or names a claim that is missing or not a FER2013 accuracy."""
    if "claim" not in entry:
        return entry
    restated = [name for name in CLAIMED_FACTS if name in entry]
    if restated:
        raise ClaimError(f"{where}: field {restated[0]!r}: restates claim {entry['claim']!r}; an entry that names "
                         "a claim takes its number and test protocol from claims.yaml")
    claim = next((claim for claim in claims.claims if claim["id"] == entry["claim"]), None)
    if claim is None:
        raise ClaimError(f"{where}: field 'claim': no claim {entry['claim']!r} in claims.yaml")
    if (claim["dataset"], claim["metric"]) != ("fer2013", "accuracy") or claim.get("reference"):
        raise ClaimError(f"{where}: field 'claim': {entry['claim']!r} is not a FER2013 accuracy claim of a model")
    return entry | leaderboard_facts(claim)


def validate_entry(entry, claims: ClaimSet, index: int = 0) -> dict:
    """The entry with its claimed facts filled in (``_with_claimed_facts``); raise ``ClaimError`` naming the
    entry id (or its position) and the field when it is malformed."""
    if not isinstance(entry, dict):
        raise ClaimError(f"entry #{index}: expected a mapping of fields, got {entry!r}")
    where = f"entry {entry['id']!r}" if isinstance(entry.get("id"), str) else f"entry #{index}"
    entry = _with_claimed_facts(entry, where, claims)
    check_fields(entry, ENTRY_FIELDS, where, ClaimError)
    check_fields(entry["verification"], VERIFICATION_FIELDS, f"{where}: verification", ClaimError)
    for number, reproduction in enumerate(entry["reproductions"]):
        if not isinstance(reproduction, dict):
            raise ClaimError(f"{where}: field 'reproductions': #{number} is not a mapping")
        check_fields(reproduction, REPRODUCTION_FIELDS, f"{where}: reproductions #{number}", ClaimError)
        if reproduction["low"] > reproduction["high"]:
            raise ClaimError(f"{where}: reproductions #{number}: field 'low' is above 'high'")
    if (entry["tta"] == NONE) != (entry["tta_views"] == 1):
        raise ClaimError(f"{where}: field 'tta_views': one view exactly when tta is {NONE!r}, "
                         f"got tta {entry['tta']!r} with {entry['tta_views']!r} views")
    return entry


def validate_leaderboard(document, claims: ClaimSet) -> Leaderboard:
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        raise ClaimError("leaderboard file: expected a mapping with an 'entries' list")
    descriptions = document.get("protocol_classes")
    if not isinstance(descriptions, dict) or not all(is_text(text) for text in descriptions.values()):
        raise ClaimError("leaderboard file: field 'protocol_classes': expected a mapping of class to text")
    unknown = sorted(set(descriptions) - set(PROTOCOL_CLASSES))
    missing = [name for name in PROTOCOL_CLASSES if name not in descriptions]
    if unknown or missing:
        raise ClaimError(
            "leaderboard file: field 'protocol_classes': "
            + (f"unknown class {unknown[0]!r}" if unknown else f"class {missing[0]!r} not described")
            + f"; the classes are {', '.join(PROTOCOL_CLASSES)}")
    entries, seen = [], set()
    for index, entry in enumerate(document["entries"]):
        entries.append(validate_entry(entry, claims, index))
        if entry["id"] in seen:
            raise ClaimError(f"entry {entry['id']!r}: field 'id': duplicate id")
        seen.add(entry["id"])
    return Leaderboard(entries, {name: descriptions[name] for name in PROTOCOL_CLASSES})


def load_leaderboard(path: str | Path = LEADERBOARD_PATH, claims: ClaimSet | None = None) -> Leaderboard:
    """The leaderboard, each entry that names a claim filled from ``claims`` (default: the claims file)."""
    return _load(path, validate_leaderboard, claims or load_claims())
