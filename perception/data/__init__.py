"""Driving datasets from the simulator (format: perception/DATASET.md): scenario randomization, generation, reading."""
from .reader import Dataset, DatasetError, open_dataset

__all__ = ["Dataset", "DatasetError", "open_dataset"]
