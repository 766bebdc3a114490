"""Data sets. Each module holds one ``load(seed, **params) -> DataBundle`` component."""

from toolkit.data.base import DataBundle, DataInfo, Split, to_input

__all__ = ["DataBundle", "DataInfo", "Split", "to_input"]
