"""Errors a user can cause.

Library code raises :class:`NnlabError` (or a subclass) for anything the user can fix: a missing
file, an unknown name, a bad option value, an artifact of the wrong kind. The CLI catches it and
prints its message as one red line, exit status 1. Anything else is a bug and keeps its traceback.
Messages speak the library's language (parameter names as the Python API spells them), never
command-line flags; the CLI maps them to its options where that helps.
"""

from typing import Any


class NnlabError(Exception):
    """A problem the user can fix; its message is one self-contained sentence."""


class ArtifactError(NnlabError):
    """An artifact file is missing, foreign, truncated, of the wrong kind or of a newer format."""


class ParameterError(NnlabError):
    """A bad value of named parameters; the message names them as the Python API spells them.

    ``parameters`` lets a front end name them its own way: the CLI shows ``val_fraction`` as ``--val-fraction``.
    """

    def __init__(self, parameters: str | tuple[str, ...], message: str):
        super().__init__(message)
        self.parameters = (parameters,) if isinstance(parameters, str) else tuple(parameters)


class UsageError(ParameterError):
    """Parameters that contradict each other (the same setting given twice); the CLI exits 2, as for a usage error."""


class UnknownNameError(NnlabError):
    """A registry lookup failed; the message lists the valid names."""


def check_positive_int(value: Any, what: str) -> int:
    """``value`` as an int of at least 1 (ints, whole floats and digit strings); else an NnlabError naming ``what``."""
    error = NnlabError(f"{what} must be a positive integer, got {value!r}")
    if isinstance(value, bool):
        raise error
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise error from None
    if (isinstance(value, float) and number != value) or number < 1:
        raise error
    return number


class WriteError(NnlabError):
    """An output file could not be written (read-only folder, full disk, no permission)."""


class MetadataError(ArtifactError):
    """A metadata field of an artifact is missing, not valid JSON, of the wrong type or out of range.

    The message names the file and the field.
    """
