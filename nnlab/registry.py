"""A tiny name → builder registry, one instance per kind of thing (datasets, models, attacks).

Modelled on timm's ``register_model``: builders register themselves with a decorator, and
lookups of unknown names fail with a message that lists every valid name. Prefix entries
(``tv:``, ``timm:``, ``folder:``, ``proposals:``) take the rest of the name as an argument.

A package above a registry's layer may *declare* the names one of its modules registers
(:func:`declare`: kind, name, module, one line of help) in a small module that imports nothing heavy.
A lookup of a declared name that is not registered yet imports that module first, and listings show
declared names from the declaration, so ``nnlab datasets`` lists ``proposals:NAME`` without importing
nnlab.detection's torch, torchvision and OpenCV, and only a command that uses the name pays for them.
The declaring package hands its own module's name down as a string, so no layer imports upward.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, NamedTuple

from nnlab.errors import UnknownNameError


class Declaration(NamedTuple):
    """A name that importing ``module`` registers, with its line of help for listings."""

    module: str
    help: str


# kind → name → declaration; filled by the declaring packages, read by the registry of that kind
_DECLARED: dict[str, dict[str, Declaration]] = {}


def declare(kind: str, name: str, module: str, help: str) -> None:
    """Announce that importing ``module`` registers ``name`` (a ``prefix:`` too) into the ``kind`` registry.

    The registration itself may then omit ``help``: the declaration's line is the one source of it.
    """
    entries = _DECLARED.setdefault(kind, {})
    known = entries.get(name)
    if known is not None and known.module != module:
        raise ValueError(f"{kind} {name!r} is declared by both {known.module} and {module}")
    entries[name] = Declaration(module, help)


def _shown(name: str) -> str:
    return name + "NAME" if name.endswith(":") else name


class Registry:
    """Maps names (and ``prefix:`` patterns) to builder callables."""

    def __init__(self, kind: str):
        self.kind = kind
        self._builders: dict[str, Callable[..., Any]] = {}
        self._prefixes: dict[str, Callable[..., Any]] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering ``fn`` under ``name``; a name ending in ':' registers a prefix.

        Help is ``help``, else the name's declaration (:func:`declare`), else the first line of the docstring.
        """

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            table = self._prefixes if name.endswith(":") else self._builders
            if name in table:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            table[name] = fn
            doc_lines = (fn.__doc__ or "").strip().splitlines()
            declared = self.declared().get(name)
            self._help[name] = help or (declared.help if declared else "") or (doc_lines[0] if doc_lines else "")
            return fn

        return decorator

    def declared(self) -> dict[str, Declaration]:
        """The names other packages declared for this registry (registered yet or not)."""
        return dict(_DECLARED.get(self.kind, {}))

    def _all_help(self) -> dict[str, str]:
        lines = {name: d.help for name, d in self.declared().items()}
        lines.update(self._help)
        return lines

    def names(self) -> list[str]:
        """All registered and declared names, prefixes shown as ``prefix:NAME``."""
        names = self._all_help()
        plain = sorted(n for n in names if not n.endswith(":"))
        return plain + [p + "NAME" for p in sorted(n for n in names if n.endswith(":"))]

    def help(self) -> dict[str, str]:
        """One line of help per registered or declared name (prefixes shown as ``prefix:NAME``)."""
        return {_shown(k): v for k, v in sorted(self._all_help().items())}

    def __contains__(self, name: str) -> bool:
        try:
            self.resolve(name)
        except UnknownNameError:
            return False
        return True

    def _find(self, name: str) -> tuple[Callable[..., Any], str | None] | None:
        if name in self._builders:
            return self._builders[name], None
        for prefix, fn in self._prefixes.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                return fn, name[len(prefix) :]
        return None

    def _declaring_module(self, name: str) -> str | None:
        for declared, entry in self.declared().items():
            prefix = declared.endswith(":")
            if declared == name if not prefix else (name.startswith(declared) and len(name) > len(declared)):
                return entry.module
        return None

    def resolve(self, name: str) -> tuple[Callable[..., Any], str | None]:
        """Return ``(builder, argument)``; the argument is the text after a prefix, else None.

        A declared name not registered yet is registered first, by importing the module that declares it.
        """
        found = self._find(name)
        if found is None and (module := self._declaring_module(name)) is not None:
            importlib.import_module(module)
            found = self._find(name)
            if found is None:
                raise RuntimeError(f"{module} was declared to register {self.kind} {name!r} but does not")
        if found is None:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}")
        return found

    def get(self, name: str) -> Callable[..., Any]:
        """The builder for a plain (non-prefix) name."""
        fn, arg = self.resolve(name)
        if arg is not None:
            return lambda *a, **k: fn(arg, *a, **k)
        return fn


def lazy_exports(package: str, exports: dict[str, list[str]]) -> tuple[Callable[[str], Any], Callable[[], list]]:
    """A package's module-level ``__getattr__`` and ``__dir__`` that import each exported name's module on first use.

    ``exports`` maps a submodule of ``package`` to the names it provides, so ``from nnlab.data import
    load_dataset`` works while ``import nnlab.data`` stays free of torch until a name that needs it is read.
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(importlib.import_module(package))) | set(where))

    return __getattr__, __dir__
