"""A tiny name → builder registry, one instance per kind of thing (datasets, models, attacks).

Modelled on timm's ``register_model``: builders register themselves with a decorator, and
lookups of unknown names fail with a message that lists every valid name. Prefix entries
(``tv:``, ``timm:``, ``folder:``, ``proposals:``) take the rest of the name as an argument.
"""

from __future__ import annotations

from typing import Any, Callable

from nnlab.errors import UnknownNameError


class Registry:
    """Maps names (and ``prefix:`` patterns) to builder callables."""

    def __init__(self, kind: str):
        self.kind = kind
        self._builders: dict[str, Callable[..., Any]] = {}
        self._prefixes: dict[str, Callable[..., Any]] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering ``fn`` under ``name``; a name ending in ':' registers a prefix."""

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            table = self._prefixes if name.endswith(":") else self._builders
            if name in table:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            table[name] = fn
            doc_lines = (fn.__doc__ or "").strip().splitlines()
            self._help[name] = help or (doc_lines[0] if doc_lines else "")
            return fn

        return decorator

    def names(self) -> list[str]:
        """All registered names, prefixes shown as ``prefix:NAME``."""
        return sorted(self._builders) + [p + "NAME" for p in sorted(self._prefixes)]

    def help(self) -> dict[str, str]:
        """One line of help per registered name (prefixes shown as ``prefix:NAME``)."""
        return {(k + "NAME" if k.endswith(":") else k): v for k, v in sorted(self._help.items())}

    def __contains__(self, name: str) -> bool:
        try:
            self.resolve(name)
        except UnknownNameError:
            return False
        return True

    def resolve(self, name: str) -> tuple[Callable[..., Any], str | None]:
        """Return ``(builder, argument)``; the argument is the text after a prefix, else None."""
        if name in self._builders:
            return self._builders[name], None
        for prefix, fn in self._prefixes.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                return fn, name[len(prefix) :]
        raise UnknownNameError(f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}")

    def get(self, name: str) -> Callable[..., Any]:
        """The builder for a plain (non-prefix) name."""
        fn, arg = self.resolve(name)
        if arg is not None:
            return lambda *a, **k: fn(arg, *a, **k)
        return fn
