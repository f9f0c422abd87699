"""Errors a user can cause.

Library code raises :class:`NnlabError` (or a subclass) for anything the user can fix: a missing
file, an unknown name, a bad option value, an artifact of the wrong kind. The CLI catches it and
prints its message as one red line, exit status 1. Anything else is a bug and keeps its traceback.
"""


class NnlabError(Exception):
    """A problem the user can fix; its message is one self-contained sentence."""


class ArtifactError(NnlabError):
    """An artifact file is missing, foreign, truncated, of the wrong kind or of a newer format."""


class UnknownNameError(NnlabError):
    """A registry lookup failed; the message lists the valid names."""
