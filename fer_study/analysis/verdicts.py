"""The words the study judges with, each defined once: a claim's verdict beside the committed runs
(``claims.comparison_table``, the leaderboard's runs of a paper's model) and a named run's status where a
chapter expects a run that is not evidence (``book.report``). Tables, text and figures compare against
these constants, never against the words typed again.
"""

# A claim against the committed runs of its model or ensemble.
HELD = "held"  # within the 95 % sampling margin of the reproduction, or below it
NOT_REPRODUCED = "not reproduced"
NOT_COMPARABLE = "not comparable"  # a scaled variant, or runs that say they are not the paper's model
NOT_COMPARABLE_BUDGET = "not comparable (budget)"  # the paper's model on a fraction of its recipe's budget
NO_RUN = "no run"  # the study builds the model but has no committed run of it
NO_MODEL_HERE = "no model here"  # the study does not build the model
REFERENCE = "reference"  # a reference level (human accuracy, an off-the-shelf bar), not a model claim
NO_CLAIM = "no claim"  # runs that no claim is about
# Display order, for counts and legends.
VERDICTS = (HELD, NOT_REPRODUCED, NOT_COMPARABLE, NOT_COMPARABLE_BUDGET, NO_RUN, NO_MODEL_HERE, REFERENCE,
            NO_CLAIM)
# The verdicts of a claim with a run beside it, in the order the front page tallies them.
MEASURED = (HELD, NOT_REPRODUCED, NOT_COMPARABLE_BUDGET, NOT_COMPARABLE)
# The measured verdicts that judge the claim (the others show a run beside it without judging).
JUDGED = (HELD, NOT_REPRODUCED)

# A run a chapter names that is not evidence (yet).
NO_COMMITTED_RUN = "no committed run yet"
UNDERFIT = "underfit: not evidence (appendix)"
