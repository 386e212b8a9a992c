"""Files that appear whole or not at all: a file joined from parts, checked by size and SHA-256
(the Kokoro model and the recogniser's ``base`` model are made this way)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.folders import join_checked, sha256_of, write_atomically


def _parts(tmp_path: Path) -> list[Path]:
    parts = []
    for i, data in enumerate((b"first part, ", b"second part, ", b"last" * 300_000)):
        part = tmp_path / f"part{i}.bin"
        part.write_bytes(data)
        parts.append(part)
    return parts


def test_parts_joined_in_order_when_size_and_hash_agree(tmp_path):
    parts = _parts(tmp_path)
    whole = b"".join(p.read_bytes() for p in parts)
    digest = hashlib.sha256(whole).hexdigest()
    target = tmp_path / "out" / "model.bin"
    assert join_checked(parts, target, size=len(whole), sha256=digest, what="the model") == target
    assert target.read_bytes() == whole and sha256_of(target) == digest == sha256_of(whole)
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.bin"]


def test_a_wrong_join_says_what_came_out_and_writes_nothing(tmp_path):
    parts = _parts(tmp_path)
    whole = b"".join(p.read_bytes() for p in parts)
    target = tmp_path / "out" / "model.bin"
    with pytest.raises(InputError) as info:
        join_checked(parts[::-1], target, size=len(whole),
                     sha256=hashlib.sha256(whole).hexdigest(), what="the joined model",
                     hint=" (reinstall it)", field="MODEL")
    wrong = hashlib.sha256(b"".join(p.read_bytes() for p in parts[::-1])).hexdigest()
    assert info.value.message == (f"the joined model is {len(whole)} bytes with SHA-256 {wrong}; "
                                  f"expected {len(whole)} bytes, "
                                  f"{hashlib.sha256(whole).hexdigest()} (reinstall it)")
    assert info.value.field == "MODEL" and list(target.parent.iterdir()) == []


def test_a_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, broken)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
