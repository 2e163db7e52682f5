"""Machine files stay out of the teachers' lesson folder: MP3s and the clip cache go under the
data folder (ESL_DATA_DIR), an edited lesson's superseded MP3 is removed once the new one is
recorded, and MP3 names stay readable for any student name."""

import dataclasses
from pathlib import Path
from typing import Any

from esl_dagster.pipeline.options import JobOptions
from esl_dagster.pipeline.runner import AssignmentResult, Pipeline
from esl_dagster.pipeline.services import Services
from esl_dagster.pipeline.settings import load_settings
from tests.pipeline.conftest import settings_for, write_short_lesson


def with_data_dir(services: Services, tmp_path: Path) -> Services:
    settings = settings_for(tmp_path, ESL_DATA_DIR=tmp_path / "data")
    return dataclasses.replace(services, settings=settings)


def run(services: Services, md: Path, **flags: Any) -> AssignmentResult:
    return Pipeline(services).new_assignment(JobOptions(md=str(md), **{"with_tts": True, **flags}))


def edit_study_text(md: Path) -> None:
    md.write_text(md.read_text().replace("loud and busy", "quiet", 1))


def test_the_data_dir_setting_reads_esl_data_dir(tmp_path: Path) -> None:
    settings = load_settings(None, PIPELINE_CWD=tmp_path, ESL_DATA_DIR="machine")
    assert settings.audio_dir == tmp_path / "machine" / "audio"


def test_audio_and_clips_go_to_the_data_folder_not_the_lesson_folder(
    services: Services, tmp_path: Path
) -> None:
    services = with_data_dir(services, tmp_path)
    md = write_short_lesson(tmp_path / "lessons")
    result = run(services, md)
    assert result.audio is not None and result.audio.path
    audio = Path(result.audio.path)
    assert audio.parent == tmp_path / "data" / "audio"
    assert list((audio.parent / ".clips").iterdir())
    lesson_folder = sorted(path.name for path in md.parent.iterdir())
    assert lesson_folder == [
        "short-lesson.manifest.json",
        "short-lesson.md",
        "short-lesson.notion-preview.json",
    ]


def test_an_edited_lesson_leaves_one_mp3(services: Services, tmp_path: Path) -> None:
    services = with_data_dir(services, tmp_path)
    md = write_short_lesson(tmp_path / "lessons")
    first = run(services, md)
    edit_study_text(md)
    second = run(services, md)
    assert first.audio and second.audio and first.audio.path != second.audio.path
    assert sorted((tmp_path / "data" / "audio").glob("*.mp3")) == [Path(str(second.audio.path))]


def test_an_mp3_outside_the_data_folder_is_never_removed(
    services: Services, tmp_path: Path
) -> None:
    services = with_data_dir(services, tmp_path)
    md = write_short_lesson(tmp_path / "lessons")
    elsewhere = run(services, md, out=str(tmp_path / "teacher-copies"))
    edit_study_text(md)
    run(services, md)
    assert elsewhere.audio and elsewhere.audio.path and Path(elsewhere.audio.path).is_file()


def test_a_cyrillic_student_name_gives_a_readable_file_name(
    services: Services, tmp_path: Path
) -> None:
    md = write_short_lesson(tmp_path / "lessons")
    result = run(services, md, student="Анна Смирнова")
    assert result.audio and result.audio.path
    assert Path(result.audio.path).name.startswith("anna-smirnova-")
