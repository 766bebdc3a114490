"""Metrics: pure functions on arrays, no model and no torch needed."""
