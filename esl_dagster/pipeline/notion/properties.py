"""Front matter -> Notion page properties, checked against the data source's schema.

With a schema (real runs) every value is shaped by the property's type and written under the
schema's own spelling of the name; a front-matter key that is not in the schema, or a type we
cannot write, is a ValidationError raised before any page is touched. Topic becomes a
multi_select (split on commas) or text, per schema. Without a schema (preview) the original's
rules are used: ``Name`` title, multi_select Topic, ``Status`` status, URLs as url, rest as text.
"""

from dataclasses import dataclass, field
from typing import Any

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.lesson.models import LessonMeta
from esl_dagster.pipeline.notion.rich_text import plain, split_content
from esl_dagster.pipeline.notion.target import NotionTarget

JSON = dict[str, Any]
PREVIEW_STUDENT_PLACEHOLDER = "preview-student-placeholder"


@dataclass
class PageFields:
    """The properties/icon/cover part of a create or update request, plus notes for the user."""

    properties: JSON
    icon: JSON | None = None
    cover: JSON | None = None
    warnings: list[str] = field(default_factory=list)

    def body(self) -> JSON:
        out: JSON = {"properties": self.properties}
        if self.icon is not None:
            out["icon"] = self.icon
        if self.cover is not None:
            out["cover"] = self.cover
        return out


def topic_options(topic: str) -> list[JSON]:
    names = [part.strip() for part in topic.split(",")]
    return [{"name": name[:100]} for name in dict.fromkeys(n for n in names if n)]


def value_for(kind: str, value: Any, name: str) -> JSON:
    """A property value of schema type ``kind``; ValidationError when it cannot be written."""
    text = "" if value is None else str(value)
    if kind in ("title", "rich_text"):
        return {kind: plain(text)}
    if kind in ("url", "email", "phone_number"):
        return {kind: text or None}
    if kind == "number":
        try:
            return {"number": float(value) if "." in text else int(text)}
        except (TypeError, ValueError):
            raise ValidationError(f'Property "{name}" needs a number, got "{text}".') from None
    if kind == "checkbox":
        return {"checkbox": value is True or text.lower() in ("true", "yes", "1")}
    if kind in ("select", "status"):
        return {kind: {"name": text}}
    if kind == "multi_select":
        items = value if isinstance(value, list) else text.split(",")
        return {"multi_select": [{"name": str(i).strip()} for i in items if str(i).strip()]}
    if kind == "date":
        return {"date": {"start": text}}
    raise ValidationError(f'Property "{name}" has type {kind}, which the importer cannot set.')


def lesson_student(meta: LessonMeta, student: str | None) -> str:
    """The student the page is for: the job's ``student`` when given, else the front matter's."""
    return (student if student is not None else meta.student).strip()


def build_page_fields(
    meta: LessonMeta,
    *,
    target: NotionTarget | None,
    student_value: JSON | None = None,
    student_property: str | None = None,
    key: tuple[str, str] | None = None,
) -> PageFields:
    """Build the page fields from the lesson's front matter (title, topic, properties, icon,
    cover). ``target`` None means preview (no schema known)."""
    fields = PageFields(properties={})
    title_name = target.title_property if target else "Name"
    fields.properties[title_name] = {"title": plain(meta.title)}
    extra = {
        k: v
        for k, v in (meta.properties or {}).items()
        if v not in (None, "") and k.strip().lower() != "topic"
    }
    if target is None:
        _add_preview_properties(fields, extra, meta.topic)
    else:
        _add_schema_properties(fields, target, extra, meta.topic)
        if key is not None:
            fields.properties[key[0]] = {"rich_text": plain(key[1])}
    if student_value is not None:
        fields.properties[student_property or "Student"] = student_value
    if meta.icon:
        fields.icon = (
            {"type": "emoji", "emoji": meta.icon}
            if not meta.icon.startswith(("http://", "https://"))
            else {"type": "external", "external": {"url": meta.icon}}
        )
    if meta.cover:
        fields.cover = {"type": "external", "external": {"url": split_content(meta.cover)[0]}}
    return fields


def _add_preview_properties(fields: PageFields, extra: dict[str, Any], topic: str) -> None:
    """Without a schema: ``Status`` status, URLs as url, the rest as text, Topic multi_select."""
    for name, value in extra.items():
        text = str(value)
        kind = (
            "status"
            if name == "Status"
            else "url"
            if name == "Audio" or text.startswith("http")
            else "rich_text"
        )
        fields.properties[name] = value_for(kind, value, name)
    if topic:
        fields.properties["Topic"] = {"multi_select": topic_options(topic)}


def _add_schema_properties(
    fields: PageFields, target: NotionTarget, extra: dict[str, Any], topic: str
) -> None:
    """Each value shaped by its property's type, under the schema's spelling of its name."""
    unknown = [name for name in extra if target.find(name) is None]
    if unknown:
        available = ", ".join(sorted(target.schema)) or "(none)"
        raise ValidationError(
            f"Unknown Notion properties in front matter: {', '.join(unknown)}. "
            f"Available properties: {available}"
        )
    for name, value in extra.items():
        found = target.find(name)
        assert found is not None
        fields.properties[found[0]] = value_for(str(found[1].get("type")), value, found[0])
    if topic:
        found = target.find("topic")
        if found is None:
            fields.warnings.append("The data source has no Topic property; the topic was not set.")
        elif found[1].get("type") == "multi_select":
            fields.properties[found[0]] = {"multi_select": topic_options(topic)}
        else:
            fields.properties[found[0]] = value_for(str(found[1].get("type")), topic, found[0])
