"""mnext_torch: the PyTorch twin of mnext — the official model definitions under mnext's names, and a trainer
(`python -m mnext_torch.train`) that reads mnext's YAML recipes and writes mnext's run-folder layout.
"""
from .models import create_model, list_models

__all__ = ['create_model', 'list_models']
