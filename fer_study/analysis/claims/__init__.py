"""Claims as data, and claimed vs reproduced.

- ``fer_study.analysis.claims.schema``: the claims file, validated (``load_claims``, ``ClaimSet``, ``ClaimError``).
- ``fer_study.analysis.claims.comparison``: the claims joined with the committed runs (``comparison_table``), the
  verdicts and the discussion's numbers.
"""

from fer_study.analysis.claims.comparison import (
    BUDGET_TIERS,
    COMPARISON_COLUMNS,
    NOT_AVAILABLE,
    RUN_TEST_SPLIT,
    SEED_SETTINGS,
    VERDICTS,
    comparison_table,
    discussion_numbers,
    verdict_table,
    verdict_text,
)
from fer_study.analysis.claims.schema import (
    CLAIM_FIELDS,
    CLAIMS_PATH,
    ENSEMBLES,
    METRICS,
    MULTI_VIEW_TTA,
    PROTOCOL_FIELDS,
    SPLITS,
    TTA_KINDS,
    ClaimError,
    ClaimSet,
    claims_frame,
    load_claims,
    reference_level,
    validate_claim,
    validate_claims,
)

__all__ = ["BUDGET_TIERS", "CLAIMS_PATH", "CLAIM_FIELDS", "COMPARISON_COLUMNS", "ENSEMBLES", "METRICS",
           "MULTI_VIEW_TTA", "NOT_AVAILABLE", "PROTOCOL_FIELDS", "RUN_TEST_SPLIT", "SEED_SETTINGS", "SPLITS",
           "TTA_KINDS", "VERDICTS", "ClaimError", "ClaimSet", "claims_frame", "comparison_table",
           "discussion_numbers", "load_claims", "reference_level", "validate_claim", "validate_claims",
           "verdict_table", "verdict_text"]
