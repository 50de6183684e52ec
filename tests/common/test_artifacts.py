"""Artifact folders: versions behind one link, readers that never see a missing or mixed
artifact while writers swap new ones in, from threads at once."""
from __future__ import annotations

import os
import threading
import time

import pytest

from common import artifacts
from common.artifacts import loading, write_artifact
from common.errors import ArtifactError


def write_version(folder, number: int) -> None:
    with write_artifact(folder, "test", 1, {"number": number}) as draft:
        (draft.path / "a.txt").write_text(str(number))
        (draft.path / "b.txt").write_text(str(number) * 1000)


def read_version(folder) -> int:
    with loading(folder, "test", 1, "rebuild {folder}") as art:
        a = int((art.path / "a.txt").read_text())
        b = (art.path / "b.txt").read_text()
    assert b == str(a) * 1000 and art.manifest["number"] == a  # one version, never a mix
    return a


def test_each_write_is_a_new_version_behind_one_link(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "VERSION_GRACE_SECONDS", 0.0)  # old versions go at once
    folder = tmp_path / "art"
    for number in range(4):
        write_version(folder, number)
        assert read_version(folder) == number
    assert os.readlink(folder) == "art.v4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art", "art.v3", "art.v4"]


def test_a_folder_from_before_versions_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "VERSION_GRACE_SECONDS", 0.0)
    folder = tmp_path / "art"
    folder.mkdir()
    (folder / "old.txt").write_text("from an older release")
    write_version(folder, 7)
    assert folder.is_symlink() and read_version(folder) == 7
    write_version(folder, 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art", "art.v1", "art.v2"]


def test_readers_never_see_a_missing_or_mixed_artifact_while_writers_swap(tmp_path):
    folder = tmp_path / "art"
    write_version(folder, 0)
    errors: list[BaseException] = []
    seen: list[int] = []
    stop = time.monotonic() + 5  # bounded in time as well as in count
    lock = threading.Lock()

    def writer(first: int) -> None:
        try:
            for number in range(first, first + 40):
                write_version(folder, number)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(400):
                if time.monotonic() > stop:
                    return
                number = read_version(folder)
                with lock:
                    seen.append(number)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(1000 * (i + 1),)) for i in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert len(seen) > 50 and len(set(seen)) > 1  # the readers did overlap the writes
    final = read_version(folder)
    assert final in {1039, 2039, 3039, 4039}  # a whole last write won
    left = sorted(p.name for p in tmp_path.iterdir())
    assert not [name for name in left if ".tmp-" in name or ".link-" in name], left


def test_replaced_versions_stay_for_the_grace_period(tmp_path):
    folder = tmp_path / "art"
    for number in range(4):
        write_version(folder, number)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art", "art.v1", "art.v2", "art.v3", "art.v4"]
    past = time.time() - 2 * artifacts.VERSION_GRACE_SECONDS
    for name in ("art.v2", "art.v3"):  # replaced long ago
        os.utime(tmp_path / name, (past, past))
    write_version(folder, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art", "art.v3", "art.v4", "art.v5"]


def test_a_missing_version_behind_the_link_names_the_rebuild_command(tmp_path):
    folder = tmp_path / "art"
    write_version(folder, 1)
    (tmp_path / "art.v1" / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match=f"rebuild {folder}"):
        read_version(folder)


def test_one_build_at_a_time_and_the_second_builder_reuses_the_first(tmp_path):
    folder = tmp_path / "art"
    builds: list[int] = []
    inside: list[int] = []
    overlaps: list[list[int]] = []

    def visitor(number: int) -> None:
        with artifacts.build_lock(folder):
            inside.append(number)
            if len(inside) > 1:
                overlaps.append(list(inside))
            try:
                read_version(folder)  # built by an earlier visitor: reuse it
            except ArtifactError:
                time.sleep(0.2)
                write_version(folder, number)
                builds.append(number)
            inside.remove(number)

    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not overlaps and len(builds) == 1 and read_version(folder) == builds[0]


def test_without_symbolic_links_a_plain_swap_still_replaces_the_artifact(tmp_path, monkeypatch):
    def no_links(*args, **kwargs):
        raise OSError("symbolic links are not supported here")

    monkeypatch.setattr(artifacts.os, "symlink", no_links)
    folder = tmp_path / "art"
    for number in range(3):
        write_version(folder, number)
        assert not folder.is_symlink() and read_version(folder) == number
    assert not [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".link-" in p.name]
