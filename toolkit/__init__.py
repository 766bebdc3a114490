"""toolkit: a plugin-based research toolkit for trustworthy machine learning on PyTorch.

One TOML recipe names a data set, a model and the attacks, defenses, detectors and
explainers to apply; ``toolkit run recipe.toml`` runs it and writes a run folder with
metrics, figures and a self-contained report.

Importing this package is cheap: it does not import torch. The heavy parts are imported
when a run needs them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
