"""A restricted unpickler for the python-pickle datasets (CIFAR-10/100 batches).

Unpickling runs whatever callables a file names, so a planted batch file could run code. The
CIFAR files hold only dicts, lists, strings, bytes, numbers and numpy arrays; this unpickler admits
exactly the few globals those need (numpy's array reconstruction and Python's latin-1 bytes codec)
and refuses every other one before anything is called.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

from nnlab.errors import NnlabError

# (module, name) pairs a numpy-array pickle refers to; numpy 2 writes numpy._core, numpy 1 numpy.core
ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),  # arrays at pickle protocol 5
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes at protocol 2
})


class UnsafePickleError(NnlabError):
    """A pickle names a callable outside the allow-list (a planted or foreign file)."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(f"refers to {module}.{name}, which a dataset file never needs")
        return super().find_class(module, name)


def load_plain_pickle(path: str | os.PathLike) -> Any:
    """Unpickle ``path`` admitting only plain containers, strings, numbers and numpy arrays.

    Strings written by Python 2 are decoded as latin-1, as torchvision does for CIFAR. A file that
    names any other callable raises :class:`UnsafePickleError` naming the file; nothing in it runs.
    """
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path} is not a plain data pickle: it {exc}; refusing to load it") from None
