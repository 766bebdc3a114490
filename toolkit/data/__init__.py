"""Data sets. Each module holds one ``load(seed, **params) -> DataBundle`` component.

The shared types live in :mod:`toolkit.data.base`; this package's ``__init__`` imports
nothing, so reading a component's signature never imports torch.
"""
