"""Explainers: ``explain(model, inputs, targets) -> attributions`` aligned with the input."""
