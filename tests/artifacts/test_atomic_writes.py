"""Writes that fail (read-only folder, full disk, no permission) are one clear error and leave nothing behind;
artifacts get the user's umask; temporaries of killed runs are cleaned up; tables show their metadata to pandas."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch

from nnlab import artifacts
from nnlab.errors import NnlabError, WriteError
from tests.cli.helpers import assert_clear_error, error_text, invoke


@contextlib.contextmanager
def _tmpfs(path, options):
    """A small tmpfs at ``path`` when this machine lets us mount one (root in a container usually may)."""
    path.mkdir(exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    try:
        yield done.returncode == 0
    finally:
        if done.returncode == 0:
            subprocess.run(["umount", str(path)], capture_output=True)


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if artifacts.TMP_MARKER in p.name]


def _fill(folder):
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()


def test_write_into_read_only_folder_is_one_line_naming_path_and_cause(runner, app, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    with _tmpfs(ro, "ro,size=64k") as mounted:
        if not mounted:  # no mount here: the same failure, raised where the OS would raise it
            ro.mkdir(exist_ok=True)
            real_open = os.open

            def refuse(path, *args, **kwargs):
                if str(path).startswith(str(ro)):
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
                return real_open(path, *args, **kwargs)

            monkeypatch.setattr(os, "open", refuse)
        out = ro / "m.safetensors"
        res = invoke(
            runner,
            app,
            "train",
            "--model",
            "mlp",
            "--dataset",
            "digits",
            "--image-size",
            "8",
            "--epochs",
            "1",
            "--limit",
            "200",
            "-o",
            out,
            "--quiet",
        )
        assert_clear_error(res, str(out), os.strerror(errno.EROFS))
        assert len(error_text(res).strip().splitlines()) == 1
        assert list(ro.iterdir()) == []


def test_write_onto_full_filesystem_is_one_line_and_leaves_no_temporary(runner, app, tmp_path, monkeypatch):
    full = tmp_path / "full"
    with _tmpfs(full, "size=64k") as mounted:
        if mounted:
            _fill(full)
        else:
            full.mkdir(exist_ok=True)
            import safetensors.torch

            real_save = safetensors.torch.save_file

            def no_space(tensors, filename, metadata=None):
                if str(filename).startswith(str(full)):
                    with open(filename, "wb") as f:
                        f.write(b"partial")
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return real_save(tensors, filename, metadata=metadata)

            monkeypatch.setattr(safetensors.torch, "save_file", no_space)
        out = full / "m.safetensors"
        res = invoke(
            runner,
            app,
            "train",
            "--model",
            "mlp",
            "--dataset",
            "digits",
            "--image-size",
            "8",
            "--epochs",
            "1",
            "--limit",
            "200",
            "-o",
            out,
            "--quiet",
        )
        assert_clear_error(res, str(full), os.strerror(errno.ENOSPC))
        assert len(error_text(res).strip().splitlines()) == 1
        assert not out.exists() and _leftovers(full) == []


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.ENOSPC])
def test_failed_rename_removes_the_temporary(tmp_path, monkeypatch, code):
    def fail(src, dst):
        raise OSError(code, os.strerror(code), str(dst))

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(WriteError, match=os.strerror(code)) as info:
        artifacts.save_text("hello", tmp_path / "a.txt")
    assert str(tmp_path / "a.txt") in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_writer_error_wrapping_an_os_error_is_recognised(tmp_path):
    with pytest.raises(WriteError, match="No space left on device"):
        with artifacts.atomic_path(tmp_path / "x.bin") as tmp:
            tmp.write_bytes(b"abc")
            raise RuntimeError("[enforce fail] PytorchStreamWriter failed writing file: No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_other_errors_pass_through_and_still_remove_the_temporary(tmp_path):
    for exc in (ValueError("a bug"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with artifacts.atomic_path(tmp_path / "x.bin") as tmp:
                tmp.write_bytes(b"abc")
                raise exc
        assert list(tmp_path.iterdir()) == []


def test_temporary_name_is_recognisable_and_stale_ones_of_dead_runs_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "m.safetensors"
    stale = tmp_path / f".m.safetensors{artifacts.TMP_MARKER}{dead.pid}-0a1b2c3d.safetensors"
    alive = tmp_path / f".m.safetensors{artifacts.TMP_MARKER}{os.getpid()}-deadbeef.safetensors"
    other = tmp_path / f".n.safetensors{artifacts.TMP_MARKER}{dead.pid}-0a1b2c3d.safetensors"
    for p in (stale, alive, other):
        p.write_bytes(b"left by a killed run")
    with artifacts.atomic_path(target) as tmp:
        assert tmp.name.startswith(f".m.safetensors{artifacts.TMP_MARKER}{os.getpid()}-")
        assert tmp.suffix == ".safetensors"
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert not stale.exists() and alive.exists() and other.exists()


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_artifacts_get_the_users_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        artifacts.save_table(tmp_path / "t.parquet", pd.DataFrame({"a": [1]}), {"table": "x"})
        artifacts.save_features(tmp_path / "f.safetensors", {"l": torch.zeros(2, 3)}, torch.tensor([0, 1]), {})
    finally:
        os.umask(old)
    assert (tmp_path / "t.parquet").stat().st_mode & 0o777 == mode
    assert (tmp_path / "f.safetensors").stat().st_mode & 0o777 == mode


def test_plain_pandas_sees_table_name_format_and_provenance(tmp_path):
    path = tmp_path / "h.history.parquet"
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [0.9, 0.5]})
    artifacts.save_table(path, history, {"table": "history", "provenance": {"command": "nnlab train", "seed": 0}})
    attrs = pd.read_parquet(path).attrs
    assert attrs["table"] == "history" and attrs[artifacts.FORMAT_KEY] == artifacts.FORMAT_VERSION
    assert attrs["provenance"] == {"command": "nnlab train", "seed": 0}
    df, meta = artifacts.load_table(path, table="history")
    assert meta["provenance"]["seed"] == 0 and list(df["epoch"]) == [1, 2]


def test_load_table_reads_files_written_before_attrs(tmp_path):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(pd.DataFrame({"epoch": [1]}), preserve_index=False)
    meta = {artifacts.KIND_KEY: "table", artifacts.FORMAT_KEY: 1, "table": "history"}
    table = table.replace_schema_metadata({**table.schema.metadata, b"nnlab": json.dumps(meta).encode()})
    pq.write_table(table, tmp_path / "old.parquet")
    df, loaded = artifacts.load_table(tmp_path / "old.parquet", table="history")
    assert loaded["table"] == "history" and list(df["epoch"]) == [1]


def test_write_error_is_a_user_error():
    assert issubclass(WriteError, NnlabError)
