"""Old dbt invocation folders are pruned: the newest stay, files and other prefixes are untouched."""

from __future__ import annotations

import os

from orchestration.resources.dbt import prune_invocation_dirs


def test_prune_keeps_the_newest_invocation_folders(tmp_path, monkeypatch):
    for age, name in enumerate(
        ["dbt_models-aaaaaaa-0000001", "dbt_models-bbbbbbb-0000002", "dbt_models-ccccccc-0000003"]
    ):
        folder = tmp_path / name
        (folder / "compiled").mkdir(parents=True)
        (folder / "run_results.json").write_text("{}")
        mtime = 1_000_000 - age * 100  # the first is the newest
        os.utime(folder, (mtime, mtime))
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "other_op-ddddddd-0000004").mkdir()

    removed = prune_invocation_dirs(tmp_path, prefix="dbt_models", keep=2)

    assert [p.name for p in removed] == ["dbt_models-ccccccc-0000003"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dbt_models-aaaaaaa-0000001",
        "dbt_models-bbbbbbb-0000002",
        "manifest.json",
        "other_op-ddddddd-0000004",
    ]


def test_prune_reads_the_limit_from_the_environment_and_never_removes_the_newest(tmp_path, monkeypatch):
    for age in range(3):
        folder = tmp_path / f"dbt_models-run{age}00-abcdef{age}"
        folder.mkdir()
        os.utime(folder, (2_000_000 - age, 2_000_000 - age))
    monkeypatch.setenv("DBT_KEEP_INVOCATION_DIRS", "0")  # 0 still keeps the build just written
    removed = prune_invocation_dirs(tmp_path, prefix="dbt_models")
    assert len(removed) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["dbt_models-run000-abcdef0"]
