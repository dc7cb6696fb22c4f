"""Errors the engine raises on purpose: each carries a one-line reason fit to show a user."""

from __future__ import annotations


class CutoutError(Exception):
    """Base class: ``str(err)`` is a one-line message that names the file where there is one."""


class ImageLoadError(CutoutError):
    """The file is not an image we can read (empty, truncated, corrupt, too large, unsupported)."""


class ExportError(CutoutError):
    """The cutout could not be written (exists, read-only folder, disk full, bad options)."""


class ModelError(CutoutError):
    """A model is missing, its weights fail verification, or it cannot run on the chosen device."""


class ModelNotInstalledError(ModelError):
    """The weights of a known model are not in the cache yet: ``cutout-studio models install NAME``."""


class CancelledError(CutoutError):
    """A long job was cancelled by the user."""
