"""The toolkit's version (read by the build, and by the fingerprints: a new version is new code)."""

__version__ = "0.1.0"
