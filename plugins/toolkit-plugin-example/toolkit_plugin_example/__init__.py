"""An example toolkit plugin: the predictive-entropy OOD detector."""

__version__ = "0.1.0"
