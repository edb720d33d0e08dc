"""Datasets of the study: readers, HDF5 caches, balance analysis and in-memory training tensors."""

from fer_study.data import variants  # noqa: F401  (importing it registers the report's dataset variants)
from fer_study.data.dataset import EXCLUDED, FERDataset
from fer_study.data.registry import cache_path, list_datasets, load_dataset, register_dataset
from fer_study.data.variants import evaluation_dataset, evaluation_ids

__all__ = ["EXCLUDED", "FERDataset", "cache_path", "evaluation_dataset", "evaluation_ids", "list_datasets",
           "load_dataset", "register_dataset"]
