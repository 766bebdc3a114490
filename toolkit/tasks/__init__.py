"""Experiment types. Each module holds one task class: ``Task(**evaluate).run(ctx) -> TaskResult``."""
