from pathlib import Path

from esl_dagster.pipeline.files import atomic_copy, atomic_write_bytes, atomic_write_text


def test_atomic_writes_replace_the_target_and_leave_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "lesson.manifest.json"
    atomic_write_text(target, "first")
    atomic_write_text(target, "zweite Fassung ü")
    assert target.read_text(encoding="utf-8") == "zweite Fassung ü"
    clip = tmp_path / "deep" / "clip.mp3"
    atomic_write_bytes(clip, b"\x00\x01")
    copy = tmp_path / "deep" / "copy.mp3"
    copy.write_bytes(b"old")
    atomic_copy(clip, copy)
    assert copy.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "clip.mp3",
        "copy.mp3",
        "lesson.manifest.json",
    ]
