"""The lesson folder sensor applies the API's lesson-root rule: symlinks are resolved and a link
out of the watched folder is never read or launched, only reported."""

import os
import shutil
from pathlib import Path

import dagster as dg

from esl_dagster.defs.lessons.sensors import lesson_folder_sensor
from esl_dagster.resources.lesson_sources import LessonSourcesResource, list_folder
from esl_dagster.resources.s3_storage import S3StorageResource
from tests.conftest import VALID_LESSONS


def tick(folder: Path) -> tuple[list[dg.RunRequest], str | None, str | None]:
    sources = LessonSourcesResource(folders=[str(folder)], s3=S3StorageResource())
    with dg.build_sensor_context(resources={"lesson_sources": sources}) as context:
        result = lesson_folder_sensor.evaluate_tick(context)
    return list(result.run_requests or []), result.cursor, result.skip_message


def test_links_out_of_the_folder_are_reported_and_never_launched(tmp_path: Path) -> None:
    folder = tmp_path / "lessons"
    outside = tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    shutil.copy(VALID_LESSONS[0], outside / "lesson.md")
    (folder / "passwd.md").symlink_to("/etc/passwd")
    (folder / "outside.md").symlink_to(outside / "lesson.md")
    (folder / "dangling.md").symlink_to(tmp_path / "missing" / "x.md")

    requests, _, skip = tick(folder)

    assert requests == []
    assert skip is not None
    assert "lessons/passwd.md: links to /etc/passwd, outside the lesson folder" in skip
    assert f"lessons/outside.md: links to {outside / 'lesson.md'}" in skip
    assert "lessons/dangling.md: links to" in skip


def test_links_inside_the_folder_launch_with_the_resolved_path(tmp_path: Path) -> None:
    folder = tmp_path / "lessons"
    (folder / "real").mkdir(parents=True)
    shutil.copy(VALID_LESSONS[0], folder / "real" / "lesson.md")
    (folder / "alias.md").symlink_to(folder / "real" / "lesson.md")
    (folder / "escape.md").symlink_to("/etc/passwd")

    requests, _, _ = tick(folder)

    paths = sorted(r.run_config["ops"]["validate_lesson"]["config"]["md"] for r in requests)
    real = str((folder / "real" / "lesson.md").resolve())
    assert paths == [real, real]
    assert all("/etc/passwd" not in str(r.run_config) for r in requests)
    listing = list_folder(folder)
    assert [c.key for c in listing.candidates] == ["lessons/alias.md", "lessons/real/lesson.md"]
    assert len(listing.skipped) == 1 and listing.problems == []


def test_a_folder_reached_through_a_symlink_is_its_own_root(tmp_path: Path) -> None:
    """The configured folder itself may be a link: the rule uses its resolved path."""
    target = tmp_path / "store"
    target.mkdir()
    shutil.copy(VALID_LESSONS[1], target / "lesson.md")
    link = tmp_path / "watched"
    os.symlink(target, link)

    requests, _, _ = tick(link)

    assert len(requests) == 1
    md = requests[0].run_config["ops"]["validate_lesson"]["config"]["md"]
    assert md == str((target / "lesson.md").resolve())
