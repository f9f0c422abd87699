"""The restricted unpickler admits plain data and numpy arrays, nothing that can run code."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from nnlab.data.safe_pickle import UnsafePickleError, load_plain_pickle


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/nnlab-pwned",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_data_and_arrays_load(tmp_path, protocol):
    obj = {"data": np.arange(12, dtype=np.uint8).reshape(3, 4), "labels": [1, 2], "name": "x", "b": b"\x00\xff",
           "f": 1.5, "t": (1, None)}
    (tmp_path / "p").write_bytes(pickle.dumps(obj, protocol=protocol))
    back = load_plain_pickle(tmp_path / "p")
    assert np.array_equal(back["data"], obj["data"]) and back["labels"] == [1, 2] and back["b"] == b"\x00\xff"


@pytest.mark.parametrize("payload", [_Evil(), {"ok": [_Evil()]}, np.array([object()], dtype=object)])
def test_anything_callable_is_refused_before_it_runs(tmp_path, payload):
    (tmp_path / "p").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(UnsafePickleError, match="not a plain data pickle"):
        load_plain_pickle(tmp_path / "p")
    assert not os.path.exists("/tmp/nnlab-pwned")
