"""Detectors: ``fit(model, train)`` then ``score(model, x)``; higher means more in-distribution."""
