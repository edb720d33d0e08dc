# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The data: FER2013 and FER+
#
# **Report §3.3.** FER2013 has 35,887 gray 48x48 faces in seven classes, split by the challenge's
# `Usage` column into Training (28,709), PublicTest and PrivateTest (3,589 each). The report counts the
# images needed to balance the classes: *"21,796 images for training and 5,240 images for testing,
# increasing dataset size by 75 %"*. FER+ relabels the same images with ten taggers' votes.
#
# **Protocol of this study.** Training = train, PublicTest = validation (every choice: early stopping,
# checkpoints, hyperparameters, ensemble members), PrivateTest = test (only reported). Every number
# below is computed from the archives in `FER_DATA`.

# %% [markdown]
# ```{glue:md} chapter_answer
# :format: myst
# ```

# %% tags=["parameters"]
rebuild_caches = False  # rebuild the HDF5 caches from the raw archives
samples_per_class = 8
sample_seed = 0
match_threshold = 8.0  # mean absolute gray difference under which a FER+ and a FER2013 image are the same

# %% tags=["hide-input"]
from myst_nb import glue

from fer_study.book import plots, presentation, tables
from fer_study.core import paths
from fer_study.data import cache_path, load_dataset
from fer_study.data.agreement import agreement_table, label_confusion, label_pairs
from fer_study.data.balance import KAGGLE_FOLDER_GROUPS, balance_table

fer2013 = load_dataset("fer2013", rebuild=rebuild_caches)
ferplus = load_dataset("ferplus", rebuild=rebuild_caches)
print(f"FER2013: {len(fer2013)} images from {paths.shown(fer2013.attrs['source'])} "
      f"(cache {paths.shown(cache_path('fer2013'))})")

# %% [markdown]
# ## Images per split and class (the report's Figure 1)

# %% tags=["hide-input"]
tables.show(fer2013.counts().assign(total=lambda t: t.sum(axis=1)), precision=0)

# %% tags=["hide-input"]
plots.plot_class_counts(fer2013.counts_long(), title="FER2013: images per class and split")

# %% [markdown]
# *Images per class (x) in each split (colour): compare the bar heights within a split to see how far the
# classes are from balanced; the three splits share one class profile.*

# %% [markdown]
# ## Sample faces per class (training split)

# %% tags=["hide-input"]
samples = fer2013.sample(samples_per_class, seed=sample_seed)
plots.plot_face_grid(samples.images, samples.labels, per_row=samples_per_class)

# %% [markdown]
# ## How many images balance the classes?
#
# Each class of a group is filled up to the group's largest class (happy). Grouped as the Kaggle
# folders are (`test` = PublicTest + PrivateTest), this is the report's computation:

# %% tags=["hide-input"]
kaggle_balance = balance_table(fer2013, KAGGLE_FOLDER_GROUPS)
tables.show(kaggle_balance, precision=3)
glue("train_to_add", int(kaggle_balance.loc["train", ("total", "to_add")]), display=False)
glue("test_to_add", int(kaggle_balance.loc["test", ("total", "to_add")]), display=False)
glue("growth_pct", f"{100 * kaggle_balance[('total', 'to_add')].sum() / len(fer2013):.1f}", display=False)

# %% [markdown]
# The data give {glue:text}`train_to_add` images to add for training and {glue:text}`test_to_add` for
# testing, {glue:text}`growth_pct` % of the dataset: the report's figures. Per official split (the
# study's protocol keeps PublicTest and PrivateTest apart, and balances neither, since they are only
# evaluated), the same definition gives:

# %% tags=["hide-input"]
tables.show(balance_table(fer2013), precision=3)

# %% [markdown]
# ## FER+: the same faces, relabelled by ten taggers
#
# The 7-class majority protocol drops `contempt`, `unknown` and `NF`; an image whose top vote is tied,
# or is one of the dropped classes, is excluded. Images per split and class, and how many were excluded:

# %% tags=["hide-input"]
tables.show(ferplus.counts().assign(excluded=[int(((ferplus.splits == s) & (ferplus.labels < 0)).sum())
                                                   for s in ferplus.counts().index]), precision=0)

# %% tags=["hide-input"]
plots.plot_class_counts(ferplus.counts_long(), title="FER+ (majority): images per class and split")

# %% [markdown]
# *The same view for FER+'s majority labels: compare its class profile with FER2013's above.*

# %% [markdown]
# ## Do FER2013 and FER+ agree?
#
# The two archives share no file names, so each FER+ image is matched to the FER2013 image of the same
# split that is nearest in pixels. Agreement is measured over the images both label:

# %% tags=["hide-input"]
pairs = label_pairs(fer2013, ferplus, max_mean_abs_diff=match_threshold)
agreement = agreement_table(pairs)
tables.show(agreement, precision=3)
glue("agreement_test_pct", f"{100 * agreement.loc['test', 'agreement']:.1f}", display=False)
glue("chapter_answer", presentation.dataset_answer(fer2013, kaggle_balance, agreement), display=False)

# %% tags=["hide-input"]
plots.plot_confusion(label_confusion(pairs), title="FER2013 label (rows) vs FER+ majority label (columns)")

# %% [markdown]
# On PrivateTest the original label and the FER+ majority agree on {glue:text}`agreement_test_pct` % of
# the images both label. Read the rows: FER2013 `fear` and `sad` faces are often `neutral` for the FER+
# taggers. This is not a ceiling on a model's accuracy against either label set (a model can agree with one
# set more often than the two sets agree with each other); it says how much of PrivateTest is contested,
# which is why FER2013 and FER+ scores are never compared.
