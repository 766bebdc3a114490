"""Where a published data set's files are, and what to say when they are not there.

A data set's official release unpacks into a folder of a known layout (CIFAR-10's
``cifar-10-batches-py``, torchvision's ``MNIST/raw``). A :class:`Release` describes one: the
sub-folders of ``root`` it may sit in, the files that mark it, and how to fetch it. ``root``
may be the release folder itself or a folder above it; left out, it is the data root
(``$TOOLKIT_DATA``, else ``~/.cache/toolkit/data``).

Example:
    >>> from pathlib import Path
    >>> demo = Release("Demo", ("demo",), lambda p: (p / "demo.txt").is_file(), "demo/demo.txt",
    ...                "about 1 kB")
    >>> demo.find("/nonexistent") is None
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toolkit.data.base import data_root
from toolkit.errors import DataError


@dataclass(frozen=True)
class Release:
    """A data set's release folder: where to look, what marks it, how to fetch it.

    Attributes:
        title: the data set's name in messages (``"CIFAR-10"``).
        folders: paths under ``root`` where the release may sit (``root`` itself is tried first).
        marker: whether a folder is the release (its key files exist).
        looked: what was looked for, for the error (``"cifar-10-batches-py/ (test_batch)"``).
        size: the download's approximate size (``"about 170 MB"``).
        fetch: downloads the release under a folder (through torchvision); ``None`` when the
            toolkit cannot download it.
        fix: how to get the data by hand, said when ``fetch`` is ``None``.
    """

    title: str
    folders: tuple[str, ...]
    marker: Callable[[Path], bool]
    looked: str
    size: str
    fetch: Callable[[Path], object] | None = None
    fix: str = ""

    def find(self, root: str | Path | None) -> Path | None:
        """The release folder at or under ``root`` (or the data root), if any."""
        base = Path(root).expanduser() if root else data_root()
        for candidate in (base, *(base / f for f in self.folders)):
            if self.marker(candidate):
                return candidate
        return None

    def locate(self, root: str | None, *, download: bool) -> Path:
        """The release folder, fetched first when missing and ``download`` is set.

        Raises:
            DataError: the folder is missing (and was not downloaded), saying where it was
                looked for and how to get it.
        """
        where = Path(root).expanduser() if root else data_root()
        folder = self.find(where)
        if folder is None and download:
            if self.fetch is None:
                raise DataError(f"{self.title} cannot be downloaded by the toolkit: {self.fix}")
            folder = self._download(where)
        if folder is None:
            how = (
                f"or set dataset.download = true to fetch it ({self.size}, needs a network connection)."
                if self.fetch is not None
                else f"or {self.fix}"
            )
            raise DataError(
                f"{self.title} not found: looked for {self.looked} in {where}. "
                f"Set dataset.root or TOOLKIT_DATA to the folder that holds it, {how}"
            )
        return folder

    def _download(self, where: Path) -> Path | None:  # pragma: no cover - needs the network
        assert self.fetch is not None
        try:
            self.fetch(where)
        except Exception as exc:
            raise DataError(
                f"could not download {self.title} into {where} ({type(exc).__name__}: {exc}); "
                "download it by hand and set dataset.root to its folder"
            ) from exc
        return self.find(where)


def listed_file(base: Path, entry: str, where: str) -> Path:
    """The file a release's list names, ``base / entry``; an absolute entry, or one with a
    ``..`` part, would read outside the release and is a :class:`DataError` naming ``where``
    (the list file and line)."""
    parts = Path(entry).parts
    if Path(entry).is_absolute() or ".." in parts or not parts:
        raise DataError(f"{where}: {entry!r} leads outside {base}; a list names files inside the release")
    return base / entry


def text_lines(path: Path) -> list[str]:
    """The lines of a release's text file; one that is not UTF-8 is a :class:`DataError`."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc}); is it the release's own file?") from exc
