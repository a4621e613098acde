"""Model adapters: one per library, behind :class:`~auditor.models.base.ModelAdapter`."""

from auditor.models.base import ModelAdapter, OutputSpace
from auditor.models.loading import load_model, wrap_model

__all__ = ["ModelAdapter", "OutputSpace", "load_model", "wrap_model"]
