"""Defenses: each hooks into training (a batch transform or a loop of its own) or into the data."""
