"""Claims as data, and claimed vs reproduced.

- ``fer_study.analysis.claims.schema``: the claims file and the leaderboard file, validated by one schema and
  read by one loader (``load_claims``, ``load_leaderboard``, ``ClaimError``); a leaderboard entry that is a
  claim takes its number and test protocol from it.
- ``fer_study.analysis.claims.comparison``: the claims joined with the committed runs (``comparison_table``), the
  verdicts (``fer_study.analysis.verdicts``) and the discussion's numbers.
"""

from fer_study.analysis.claims.comparison import (
    BUDGET_TIERS,
    COMPARISON_COLUMNS,
    NOT_AVAILABLE,
    RUN_TEST_SPLIT,
    SEED_SETTINGS,
    comparison_table,
    discussion_numbers,
    verdict_table,
    verdict_text,
)
from fer_study.analysis.claims.schema import (
    CLAIM_FIELDS,
    CLAIMED_FACTS,
    CLAIMS_PATH,
    ENSEMBLES,
    LEADERBOARD_PATH,
    METRICS,
    MULTI_VIEW_TTA,
    PROTOCOL_FIELDS,
    SPLITS,
    TTA_KINDS,
    ClaimError,
    ClaimSet,
    Leaderboard,
    claims_frame,
    leaderboard_facts,
    load_claims,
    load_leaderboard,
    reference_level,
    validate_claim,
    validate_claims,
    validate_entry,
)

__all__ = ["BUDGET_TIERS", "CLAIMED_FACTS", "CLAIMS_PATH", "CLAIM_FIELDS", "COMPARISON_COLUMNS", "ENSEMBLES",
           "LEADERBOARD_PATH", "METRICS", "MULTI_VIEW_TTA", "NOT_AVAILABLE", "PROTOCOL_FIELDS", "RUN_TEST_SPLIT",
           "SEED_SETTINGS", "SPLITS", "TTA_KINDS", "ClaimError", "ClaimSet", "Leaderboard", "claims_frame",
           "comparison_table", "discussion_numbers", "leaderboard_facts", "load_claims", "load_leaderboard",
           "reference_level", "validate_claim", "validate_claims", "validate_entry", "verdict_table",
           "verdict_text"]
