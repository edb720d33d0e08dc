# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Discussion: limitations and future work
#
# **Claim (report §8, left as placeholders in the report).** The report's conclusion was to be that its
# approach (a balanced dataset and an ensemble of the best models) improves on the leading models. This
# chapter draws the conclusion the committed runs allow. Every number in its text is computed below from
# the runs and `fer_study/analysis/claims.yaml` and quoted through MyST-NB glue; none is typed.

# %% tags=["parameters"]
runs_dir = None  # None: the committed runs in results/runs
tiers = ["full", "cpu"]  # smoke-tier runs only prove that the code runs
bootstrap_samples = 2000
seed = 0

# %% tags=["hide-input"]
from IPython.display import Markdown
from myst_nb import glue

from fer_study.analysis import claims, ensemble, experiments
from fer_study.runs import load_runs

claim_set = claims.load_claims()

# %% tags=["hide-input"]
# The numbers the conclusion quotes, each glued under its name (MyST-NB glue); the text shows them in place.
runs = load_runs(runs_dir, tiers)
table = claims.comparison_table(runs_dir, claim_set, tiers, bootstrap_samples, seed)
results, _ = ensemble.evaluate_all(runs, bootstrap_samples=bootstrap_samples, seed=seed)
numbers = claims.discussion_numbers(runs, table, results, claim_set)
for name, value in numbers.items():
    glue(name, Markdown(value), display=False)

# %% [markdown]
# ## The report's research questions, on a base that learns
#
# Each answer below is generated from the seeded experiments of chapters 2, 3 and 6: every arm is the
# experiment base with one factor changed, three seeds each, differences with 95 % intervals over seeds and
# test images, Holm-corrected. Two questions are the study's own: whether seeds trained in float32 can stand
# beside the bfloat16 ones (chapter 2), and whether batch mixing helps the 40-epoch recipe (chapter 6). They
# say what each choice does for a 1.2 M-parameter CNN trained for 12 (or 40) epochs on two CPU cores; they do not say what it does for the papers' 30-80 M-parameter models at their
# full recipes, which need the GPU tier. The FER+ arms are scored against FER2013's labels, which FER+'s
# annotators overrule on part of PrivateTest (chapter 1): their verdict measures agreement with FER2013's
# labels, and chapter 2 shows their score on FER+'s own test split beside it.

# %% tags=["hide-input"]
Markdown("\n\n".join(experiments.answer(question, runs_dir, bootstrap_samples, seed).text
                       for question in experiments.QUESTIONS))

# %% [markdown]
# ## Conclusion
#
# {glue:md}`runs_status`
#
# The study has {glue:md}`runs_count` committed runs (tiers: {glue:md}`tiers`; devices:
# {glue:md}`devices`). The best single model, chosen on PublicTest, is {glue:md}`best_single` (with
# test-time augmentation, again chosen on PublicTest: {glue:md}`best_single_tta`); it is
# {glue:md}`best_single_vs_human` against the human estimate of {glue:md}`human_accuracy`, and
# {glue:md}`best_single_vs_best_claim` against the best single-model claim on the standard protocol,
# {glue:md}`best_single_claim` (the best claim overall on that protocol is an ensemble,
# {glue:md}`best_claim`).
#
# Ensembling (research question 2), on FER2013's labels: the best ensemble on validation is {glue:md}`best_ensemble`, a gain
# of {glue:md}`best_ensemble_gain`; {glue:md}`gain_conclusion`.
#
# Against the published claims (research question 3), the {glue:md}`claims_total` claims give these
# rows by verdict: {glue:md}`verdict_counts`. Chapter 7 lists, claim by claim, which protocol
# differences and known problems stand between each claim and its reproduction.
#
# ## Limitations
#
# - **One test set.** All conclusions rest on PrivateTest; the 95 % sampling margin of the best single
#   model's accuracy is {glue:md}`test_margin`, so differences smaller than that are not evidence.
#   PublicTest selects the epochs, the ensemble members and their weights, so validation accuracies are
#   optimistic.
# - **Compute.** The CPU tier trains scaled variants at native 48x48 input in at most two hours each;
#   they are never compared with the papers' models. Full-tier runs need a GPU, which only some sessions
#   are lent.
# - **Pretraining.** {glue:md}`pretrained_claims` of the claims start from pretrained weights (ImageNet,
#   ImageNet-22k, VGGFace2, MS-Celeb-1M) that cannot be downloaded here; their reproductions start from
#   scratch unless a run says otherwise.
# - **Protocols.** Test-time augmentation is deterministic here (flip, ten-crop, flip and rotate); the
#   RMN's random views and LHC-Net's 62-view grid are approximated or missing.
# - **Data.** FER2013's labels are noisy, some images hold no face and near-duplicates cross the
#   splits; FER+ relabels the same images and is a different benchmark.
# - **Claims that cannot be checked.** Some numbers were obtained on private data or splits
#   (ResEmoteNet), with a batch-dependent model (PAtt-Lite), or with lost weights (the RMN ensemble);
#   they are kept as data with their caveats.
#
# ## Future work
#
# - Run the full tier (the papers' recipes at their input sizes) on a GPU, several seeds per model, and
#   commit the runs; chapters 6 to 8 update from them without edits.
# - Start the pretrained models from their published weights where a copy can be obtained, and
#   compare with and without pretraining.
# - Ensembles of diverse members (different architectures and training data variants), with weights and
#   members chosen on a split held out from model selection.
# - Evaluate on a second dataset (e.g. RAF-DB) to test whether the FER2013 ranking transfers.
