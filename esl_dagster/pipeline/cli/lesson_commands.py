"""``esl validate`` and ``esl extract``: the lesson engine from the command line.

Exit codes follow the ``esl`` convention: 0 all lessons valid / extraction printed, 1 a lesson is
invalid or has no study text, 2 usage errors, missing or unreadable paths.
The lesson engine is imported when a command runs, so ``esl --help`` stays quick.
"""

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esl_dagster.pipeline.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from esl_dagster.pipeline.lesson.models import Extraction, Finding, ValidationResult


@dataclass(frozen=True)
class FileReport:
    path: str
    result: "ValidationResult"

    @property
    def unreadable(self) -> bool:
        from esl_dagster.pipeline.lesson.findings import Code

        return any(item.code == Code.FILE_UNREADABLE for item in self.result.errors)


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the ``validate`` and ``extract`` subcommands."""
    validate = subparsers.add_parser(
        "validate",
        help="check lesson files against the lesson format",
        description="Validate lesson Markdown files (folders are searched for *.md recursively).",
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="lesson file or folder")
    validate.add_argument(
        "--strict", action="store_true", help="treat warnings as errors (ok needs no warnings)"
    )
    validate.add_argument(
        "--json", action="store_true", help="print one JSON array with one object per file"
    )
    validate.set_defaults(handler=run_validate)

    extract = subparsers.add_parser(
        "extract",
        help="print what the pipeline reads from a lesson",
        description="Extract front matter, study text, sections, answer key and teacher notes.",
    )
    extract.add_argument("path", metavar="PATH", help="lesson file")
    extract.add_argument("--json", action="store_true", help="print the extraction as JSON")
    extract.set_defaults(handler=run_extract)


def run_validate(args: argparse.Namespace) -> int:
    from esl_dagster.pipeline.lesson.validator import validate_file

    reports: list[FileReport] = []
    empty_folder = False
    for raw in args.paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.md") if p.is_file())
            if not files:
                print(f"esl: no *.md files under {raw}", file=sys.stderr)
                empty_folder = True
            reports.extend(FileReport(str(f), validate_file(f, strict=args.strict)) for f in files)
        else:
            reports.append(FileReport(raw, validate_file(path, strict=args.strict)))
    if args.json:
        print(
            json.dumps([_report_json(report) for report in reports], ensure_ascii=False, indent=2)
        )
    else:
        _print_reports(reports)
    if empty_folder or any(report.unreadable for report in reports):
        return EXIT_USAGE
    return EXIT_OK if all(report.result.ok for report in reports) else EXIT_FAILED


def run_extract(args: argparse.Namespace) -> int:
    from esl_dagster.pipeline.errors import ValidationError
    from esl_dagster.pipeline.lesson.extractor import extract_lesson, extract_study_text
    from esl_dagster.pipeline.lesson.findings import Code
    from esl_dagster.pipeline.lesson.models import Finding
    from esl_dagster.pipeline.lesson.reader import read_lesson_file

    text = read_lesson_file(args.path)
    if isinstance(text, Finding):
        print(f"esl: {args.path}: {text.message}", file=sys.stderr)
        return EXIT_USAGE if text.code == Code.FILE_UNREADABLE else EXIT_FAILED
    extraction = extract_lesson(text)
    if extraction.study_text is None:
        try:
            extract_study_text(text)
        except ValidationError as exc:
            print(f"esl: {args.path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(extraction.model_dump_json(indent=2))
    else:
        _print_extraction(extraction)
    return EXIT_OK


def _report_json(report: FileReport) -> dict[str, Any]:
    return {
        "path": report.path,
        "ok": report.result.ok,
        "errors": [_finding_json(item) for item in report.result.errors],
        "warnings": [_finding_json(item) for item in report.result.warnings],
    }


def _finding_json(item: "Finding") -> dict[str, Any]:
    return {"code": item.code, "message": item.message, "line": item.line}


def _print_reports(reports: list[FileReport]) -> None:
    for report in reports:
        result = report.result
        if len(reports) > 1:
            print(report.path)
        if result.ok:
            print("✔ Validation passed")
        else:
            _print_findings("✖ Errors", result.errors)
        if result.warnings:
            _print_findings("Warnings", result.warnings)
        if result.ok and result.meta is not None:
            meta = result.meta
            for label, value in (
                ("title", meta.title),
                ("student", meta.student),
                ("topic", meta.topic),
                ("input_type", meta.input_type),
            ):
                print(f"  {label}: {value}")


def _print_findings(title: str, items: "list[Finding]") -> None:
    print(f"{title} ({len(items)}):")
    for item in items:
        where = f" (file line {item.line})" if item.line is not None else ""
        print(f"  • {item.message}{where}")


def _print_extraction(extraction: "Extraction") -> None:
    meta = extraction.meta
    if meta is not None:
        print(f"{meta.title} ({meta.student}, {meta.level})")
    study = extraction.study_text
    if study is not None:
        print(f"study text: {study.type}, {len(study.lines)} lines")
        for line in study.lines:
            print(f"  {line.speaker or '-'}: {line.text}")
    print("sections:")
    for section in extraction.sections:
        indent = "  " if section.depth == 2 else "    "
        print(f"{indent}{section.title} (line {section.line})")
    print(f"answer key: {'found' if extraction.answer_key is not None else 'missing'}")
    print(f"teacher notes: {'found' if extraction.teacher_notes is not None else 'missing'}")
