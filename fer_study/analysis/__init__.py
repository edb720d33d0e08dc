"""Analysis: ensembles, distillation teachers, experiments, diagnostics, claims and the leaderboard, computed
from committed run folders (predictions and metrics) alone: this layer builds no model and trains nothing."""
