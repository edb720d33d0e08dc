# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Residual Masking Network, CBAM-ResNet and ResNet
#
# **Claim (Pham, Vu, Tran 2020; report §6.3.2).** The Residual Masking Network (a ResNet34 whose four
# stages are re-weighted by U-Net masks) claims 74.14 % on FER2013's PrivateTest as a single model and
# 76.82 % as an ensemble with six other CNNs, mostly starting from ImageNet weights (one from VGGFace2)
# and tested with random flip-and-rotate views. The report reproduced three members of that ensemble: RMN
# 74.14 %, CBAM-ResNet 73.34 % and ResNet 73.14 %. Every claim about these models, as data:

# %% [markdown]
# ```{glue:md} chapter_answer
# :format: myst
# ```

# %% tags=["parameters"]
# Runs to show, by name (params/<tier>/runs/<name>.yaml): RMN's recipe for the RMN and the ensemble members
# the study builds, and ResNet18 at the native 48x48 resolution (CPU tier).
runs = ["resmasking_dropout1", "cbam_resnet50", "resnet18", "resnet34", "resnet18_native"]
runs_dir = None  # None: the committed runs in results/runs
train = False  # True: first train the runs with a config in params/<tier>/runs (hours; full tier: GPU)
tier = "full"  # the tier whose run configs `train` uses
bootstrap_samples = 2000
seed = 0

# %% tags=["hide-input"]
from fer_study.book import plots
from fer_study.book.paper_chapter import PaperChapter
from fer_study.train.named_runs import load_or_train

plots.use_house_style()
chapter = PaperChapter("RMN family", "the Residual Masking Network family",
                       claim_prefixes=("rmn", "report-rmn", "report-cbam", "report-resnet"),
                       models=("resmasking_dropout1", "cbam_resnet50", "resnet18", "resnet34"),
                       runs_dir=runs_dir, bootstrap_samples=bootstrap_samples, seed=seed)

# %% tags=["hide-input"]
chapter.claims()

# %% [markdown]
# ## Setup: the models and the recipes
#
# All four take the gray face resized to 224 and stacked to three channels, as RMN's pipeline does.
# Parameters and input size are computed from the registered models.

# %% tags=["hide-input"]
chapter.models_table()

# %% [markdown]
# The training settings of each run, from its config file (whose comments say where every setting comes
# from and what differs from RMN's recipe; `resnet18_native` keeps the 48x48 input and the CPU recipe):

# %% tags=["hide-input"]
chapter.recipes(runs)

# %% [markdown]
# ## Train or load the runs
#
# With `train = True` the runs that have a config in this tier are trained first; otherwise the committed
# runs are loaded. Accuracies are recomputed from each run's saved predictions, in percent (validation =
# PublicTest, test = PrivateTest; TTA = the run's `tta` views).

# %% tags=["hide-input"]
loaded = load_or_train(runs, tier, runs_dir, train)
chapter.runs(runs)

# %% [markdown]
# ## Learning curves
#
# Per run, loss and accuracy per epoch on training and on validation (PublicTest), and the learning rate:
# a validation curve that flattens or turns while training keeps improving marks where the run stopped
# learning what generalises.

# %% tags=["hide-input"]
chapter.curves(loaded)

# %% [markdown]
# ## Confusion matrix
#
# Of the run with the best validation accuracy, on PrivateTest; each row in percent of the true class.

# %% tags=["hide-input"]
chapter.confusion(loaded)

# %% [markdown]
# ## Claimed vs reproduced
#
# The rows of the study's comparison table (chapter 7) about RMN and its ensemble: each claim beside the
# committed runs, with every protocol difference in `note` (above all the ImageNet pretraining the study
# cannot have). The RMN-style ensemble (the best RMN, CBAM-ResNet and ResNet runs on validation) is built
# in chapter 6 and appears here once a run of each family is committed.

# %% tags=["hide-input"]
chapter.comparison()

# %% [markdown]
# *Open points are the claims, filled points the committed reproductions (one per recipe), the line human
# accuracy on FER2013; a claim without a filled point has no run yet.*

# %% [markdown]
# ## Deviations from the papers
#
# The models' own deviations, as their modules document them (the recipes' deviations are in the config
# comments):

# %% tags=["hide-input"]
chapter.deviations(["resmasking_dropout1", "resnet34"])
