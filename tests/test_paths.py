"""Globs and directories: one expansion rule (crossentropy.io.expand_paths) for every engine.

The oracle for the command line is the same command given the files one by one: a quoted
glob or a directory must read exactly those files, in sorted order, on the local engine and
on Dask.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from crossentropy import cli, io, pipeline


def _shards(d, n=3):
    rng = np.random.default_rng(5)
    d.mkdir()
    for k in range(n):
        np.savez(
            d / f"part{k}.npz",
            target=rng.integers(0, 4, 20 + k),
            logits=rng.normal(size=(20 + k, 4)),
        )
    (d / "_SUCCESS").write_bytes(b"")  # a dataset folder's marker: hidden, never read
    (d / "nested").mkdir()  # subdirectories are not entered
    return sorted(str(d / f"part{k}.npz") for k in range(n))


def _json(argv, capsys):
    code = cli.main([str(a) for a in argv] + ["--kind", "logits", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_expand_paths_rules(tmp_path):
    files = _shards(tmp_path / "d")
    d = str(tmp_path / "d")
    assert io.expand_paths(os.path.join(d, "part*.npz")) == files
    assert io.expand_paths(d) == files
    assert io.expand_paths([files[2], os.path.join(d, "part[01].npz")]) == [files[2], *files[:2]]
    assert io.expand_paths(io.expand_paths(d)) == files  # expanding twice changes nothing
    assert io.expand_paths(["-", "missing.csv"]) == ["-", "missing.csv"]  # the reader names it
    with pytest.raises(io.FileError, match=r"\*\.parquet: no file matches this pattern"):
        io.expand_paths(os.path.join(d, "*.parquet"))
    with pytest.raises(io.FileError, match="nested: is a directory with no file to read"):
        io.expand_paths(os.path.join(d, "nested"))
    odd = tmp_path / "odd[1].npz"  # an existing name with glob characters is a file, not a pattern
    odd.write_bytes(b"")
    assert io.expand_paths(str(odd)) == [str(odd)]


def test_local_engine_reads_globs_and_directories(tmp_path, capsys):
    files = _shards(tmp_path / "d")
    listed = _json(["evaluate", *files], capsys)
    for given in (os.path.join(tmp_path / "d", "*.npz"), tmp_path / "d"):
        got = _json(["evaluate", given], capsys)
        assert got["source"]["files"] == files
        assert got["report"] == listed["report"]
    assert listed["rows"]["read"] == 20 + 21 + 22
    # the library's pipeline too: LocalEngine expands what it is given
    opts = pipeline.EvaluateOptions(kind="logits")
    src = pipeline.Source([os.path.join(tmp_path / "d", "part*")], io.Schema())
    ev = pipeline.run(opts, src, pipeline.LocalEngine())
    assert ev.source.files == files and ev.counts.read == listed["rows"]["read"]


def test_no_match_names_the_pattern(tmp_path, capsys):
    pattern = os.path.join(tmp_path, "*.parquet")
    code = cli.main(["evaluate", pattern])
    _, err = capsys.readouterr()
    assert code == 4 and f"{pattern}: no file matches this pattern" in err


def test_dask_engine_reads_the_same_glob(tmp_path, capsys):
    pytest.importorskip("distributed")
    files = _shards(tmp_path / "d")
    pattern = os.path.join(tmp_path / "d", "part*.npz")
    local = _json(["evaluate", pattern], capsys)
    dist = _json(["evaluate", pattern, "--engine", "dask", "--workers", "1"], capsys)
    assert dist["source"]["files"] == local["source"]["files"] == files
    for key in ("cross_entropy", "accuracy", "brier"):
        assert dist["report"][key] == pytest.approx(local["report"][key], rel=1e-12)
