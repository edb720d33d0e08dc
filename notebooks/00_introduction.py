# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Which facial emotion recognition results hold?
#
# This book re-runs the study of the report *Ensemble Models for Facial Emotion Recognition* on
# FER2013 and FER+: its datasets, the published models it builds on (ResEmoteNet, the Residual Masking
# Network and its ensemble members, PAtt-Lite, EmoNeXt, VGGNet, ARBEx) and its ensembles, and puts
# every number we reproduce beside the number that was claimed.
#
# ## Protocol
#
# - **Splits.** FER2013's official `Usage` split: Training trains, **PublicTest** is the validation
#   set, **PrivateTest** is the test set (their sizes, counted from the data, are in the next chapter).
#   Early stopping, checkpoint choice, hyperparameters and ensemble members are chosen on PublicTest
#   only; PrivateTest is only reported. Dataset variants (augmented, filtered, aligned, balanced)
#   change training data only: every model is tested on the full, unfiltered PrivateTest.
# - **Test-time augmentation** is reported separately from single-view accuracy, and a claim is only
#   compared with a reproduction made under its own protocol; where protocols differ the table says so.
# - **Reproduced** means: a committed run of the paper's model (not a scaled variant), whose PrivateTest
#   accuracy comes within the 95 % sampling margin of the claim, or above it.
# - **Tiers.** `full` runs follow each paper's recipe on a GPU; `cpu` runs fit in two hours on two CPU
#   cores (compact or width-scaled models, never compared with a paper's claim as if they were the
#   paper's model); `smoke` runs only prove that the code runs and never appear in result tables.
# - **Every number** in this book is computed from the archives or from a committed run folder in
#   `results/runs/` (its config, history, metrics and predictions); none is typed.

# %% tags=["parameters"]
runs_dir = None  # None: the committed runs in results/runs
tiers = ["full", "cpu"]
bootstrap_samples = 1000

# %%
from IPython.display import Markdown

from fer_study import claims, plots

claim_set = claims.load_claims()
table = claims.comparison_table(runs_dir, claim_set, tiers, bootstrap_samples)

# %% [markdown]
# ## Headline: claimed vs reproduced
#
# One row per claim and tier (details, caveats and the runs no claim is about are in the
# [results chapter](07_results.ipynb)). Which published FER2013 results are comparable at all, each
# classified by its protocol, is in the [leaderboard chapter](10_leaderboard.ipynb).

# %%
plots.show_table(table[["claim", "paper", "model", "claimed", "reproduced", "tier", "verdict"]])

# %%
Markdown(claims.verdict_text(table, claim_set))

# %% [markdown]
# ## Reproduce this book
#
# ```bash
# make book   # venv, data caches, every chapter executed with params/cpu/, HTML in book/_build/html
# make test   # unit tests, real-data checks, every notebook with params/smoke/
# papermill notebooks/06_ensemble.ipynb out.ipynb   # the ensemble table from the committed runs
# ```
