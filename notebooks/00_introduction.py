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

# %% tags=["parameters"]
runs_dir = None  # None: the committed runs in results/runs
tiers = ["full", "cpu"]
bootstrap_samples = 2000
seed = 0

# %% tags=["hide-input"]
from IPython.display import Markdown

from fer_study.analysis import claims, ensemble, leaderboard
from fer_study.book import findings, plots, presentation, tables
from fer_study.runs import load_runs

plots.use_house_style()
claim_set = claims.load_claims()
runs = load_runs(runs_dir, tiers)
entries = leaderboard.entries_frame(leaderboard.load_leaderboard(), runs)
references = leaderboard.study_references(runs)

# %% [markdown]
# ## What the study found
#
# ### 1. Which published FER2013 numbers are comparable at all
#
# Every published FER2013 result the study could find, classified by the protocol it was measured under
# (split, checkpoint selection, test-time augmentation, pretraining, extra data, ensembling); the
# [leaderboard chapter](10_leaderboard.ipynb) gives each entry's facts and sources.

# %% tags=["hide-input"]
Markdown(leaderboard.comparability_text(entries))

# %% tags=["hide-input"]
plots.plot_leaderboard(entries, references, claims.reference_level("human", claim_set),
                       title="FER2013: claimed accuracy by protocol class, and this study's results")

# %% [markdown]
# ### 2. The best model and ensemble trained here
#
# Both on FER2013's labels, chosen on PublicTest and tested once on PrivateTest (95 % bootstrap intervals
# over the test images); cost is CPU milliseconds per 48x48 face on one thread, from the committed
# `python -m fer_study.bench cost` measurement (`results/bench/model_cost_cpu.csv`).

# %% tags=["hide-input"]
results, _ = ensemble.evaluate_all(runs, bootstrap_samples=bootstrap_samples, seed=seed)
best = findings.best_models(runs, results, bootstrap_samples, seed)
findings.best_models_text(best, entries)

# %% [markdown]
# ### 3. The report's research questions
#
# Each on a base recipe that learns, three seeds an arm, judged on accuracy and macro-F1 with intervals over
# seeds and test images (Holm-corrected); chapters 2, 3 and 6 show each comparison and chapter 8 discusses
# what it does not show.

# %% tags=["hide-input"]
findings.research_answers(runs_dir, bootstrap_samples, seed)

# %% [markdown]
# ### 4. What is not measured yet

# %% tags=["hide-input"]
findings.untrained_text(runs)

# %% [markdown]
# ## Claimed vs reproduced
#
# One row per claim: where a claim has several recipes or ensembles, the one best on validation
# (PublicTest), with the 95 % sampling interval of its PrivateTest accuracy. Every run, recipe and
# protocol note is in the [results chapter](07_results.ipynb).

# %% tags=["hide-input"]
table = claims.comparison_table(runs_dir, claim_set, tiers, bootstrap_samples, seed)
headline = presentation.headline(table, runs)
presentation.front_page_answer(headline)

# %% tags=["hide-input"]
tables.show(presentation.headline_table(headline), page_length=40)

# %% tags=["hide-input"]
presentation.plot_headline(headline)

# %% [markdown]
# *Each line is one claim and tier with a reproduction: the open diamond is the claimed accuracy, the dot
# the validation-chosen reproduction with its 95 % interval, coloured by verdict. Grey dots are scaled CPU
# variants, shown beside a paper's claim but never judged against it; blue dots are a paper's model on a
# CPU budget, a fraction of its recipe.*

# %% [markdown]
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

# %% [markdown]
# ## Reproduce this book
#
# ```bash
# make book   # venv, data caches, every chapter executed with params/cpu/, HTML in book/_build/html
# make test   # unit tests, real-data checks, every notebook with params/smoke/
# papermill notebooks/06_ensemble.ipynb out.ipynb   # the ensemble table from the committed runs
# ```
#
# Retrain the runs, on one machine or on a cluster (each config is one Ray task running the same training
# loop into the same run folders; complete runs are skipped, interrupted ones resume):
#
# ```bash
# make train CONFIG=params/cpu/runs/exp_base.yaml ARGS="--seed 1"   # one run: results/runs/exp_base_seed1/
# make sweep CONFIGS='params/cpu/runs/exp_*.yaml' ARGS='--seeds 0,1,2'   # the matrix, on a Ray it starts
# ray start --head --port 6379                                       # a cluster: on the head node, then
# python -m fer_study.apps.sweep 'params/cpu/runs/*.yaml' --address HEAD:6379 --gpus-per-run 0.25
# make full-tier BUDGET=450 OUT=out/                                 # the papers' recipes on one lent GPU
# ```
#
# The README's "Reproduction" section says how nodes join a cluster and how the data reaches a GPU machine.
