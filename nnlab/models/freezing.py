"""Parameter freezing: choose parameters by name pattern and switch their training on or off."""

from __future__ import annotations

import fnmatch
import re
from typing import Iterable

from torch import nn

from nnlab.errors import NnlabError
from nnlab.models.spec import Classifier


def _patterns(patterns: str | Iterable[str]) -> list[str]:
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    out = [p.strip() for item in items for p in str(item).split(",") if p.strip()]
    if not out:
        raise NnlabError("give at least one parameter-name pattern")
    return out


def _matches(pattern: str, name: str) -> bool:
    if pattern.startswith("re:"):
        return re.search(pattern[3:], name) is not None
    return name == pattern or name.startswith(pattern + ".") or fnmatch.fnmatchcase(name, pattern)


def match_parameters(model: nn.Module, patterns: str | Iterable[str]) -> list[str]:
    """Parameter names matching any pattern: fnmatch globs (``features.*``), a plain prefix
    (``features`` = ``features.*``) or ``re:REGEX``; names of a Classifier match with or without
    the ``net.`` prefix. A pattern matching nothing is an error listing the top-level names."""
    names = [n for n, _ in model.named_parameters()]
    strip = "net." if isinstance(model, Classifier) else ""
    matched: list[str] = []
    for pattern in _patterns(patterns):
        try:
            hits = [
                n
                for n in names
                if _matches(pattern, n) or (strip and n.startswith(strip) and _matches(pattern, n[len(strip) :]))
            ]
        except re.error as err:
            raise NnlabError(f"bad regular expression in pattern {pattern!r}: {err}") from None
        if not hits:
            tops = sorted({n[len(strip) :].split(".")[0] for n in names})
            raise NnlabError(
                f"pattern {pattern!r} matches no parameter; top-level names: {', '.join(tops)} "
                "(use globs like 'features.*' or a prefix like 'features')"
            )
        matched += [h for h in hits if h not in matched]
    return matched


def _set_requires_grad(model: nn.Module, patterns: str | Iterable[str], train: bool) -> list[str]:
    names = match_parameters(model, patterns)
    params = dict(model.named_parameters())
    for name in names:
        params[name].requires_grad_(train)
    return names


def freeze(model: nn.Module, patterns: str | Iterable[str]) -> list[str]:
    """Stop training the matching parameters (``requires_grad = False``); returns their names."""
    return _set_requires_grad(model, patterns, False)


def unfreeze(model: nn.Module, patterns: str | Iterable[str]) -> list[str]:
    """Train the matching parameters again; returns their names."""
    return _set_requires_grad(model, patterns, True)


def set_trainable(model: nn.Module, patterns: str | Iterable[str]) -> list[str]:
    """Train only the matching parameters: all others are frozen; returns the names of the trained ones."""
    names = match_parameters(model, patterns)
    for name, param in model.named_parameters():
        param.requires_grad_(name in names)
    return names
