"""Small inline lessons for rule tests: the minimal valid lesson of lesson-format §1.9, varied."""

FRONT_MATTER = """\
title: "Homework Assignment: Ordering Coffee"
student: Ines
level: A1
topic: Polite requests
input_type: generate
speaker_labels: [Barista, Ines]"""

BODY = """\

## 1. This Week's Mission Briefing
Order a drink politely.

## 2. Your Homework Roadmap
Steps 3 to 6.

## 3. Input Material: The Source
:::study-text
Barista: Hi! What can I get you?
Ines: Could I have a small latte, please?
:::

## 4. Language Toolkit: Useful Language
Could I have...?

## 5. Practice & Pronunciation
### A. Controlled Practice
1. a
2. b
3. c
4. d
5. e
6. f
7. g
8. h
### B. Comprehension Check
1. What does Ines order?
2. What size is it?

## 6. Your Turn: Complete the Mission!
Record yourself ordering.

## 7. Why This Mission Helps You
You will use it every day.

## 8. Answer Key & Sample Mission
:::toggle-h2 Answer Key
1. ...
:::

## 9. Teacher's Follow-up Plan
:::toggle-h2 Teacher's Follow-up Plan
Role-play at a cafe.
:::"""

STUDY_TEXT = """\
:::study-text
Barista: Hi! What can I get you?
Ines: Could I have a small latte, please?
:::"""

# Body line of the "## 1." heading (body line 1 is the blank line after the closing ---).
FIRST_H2_BODY_LINE = 2
# File line of body line 1 in a lesson built by make_lesson (fence line, ---, 6 keys, ---).
BODY_FILE_LINE = 10


def make_lesson(
    *,
    front_matter: str | None = FRONT_MATTER,
    body: str = BODY,
    fenced: bool = True,
) -> str:
    """A whole lesson file; ``front_matter=None`` leaves the ``---`` block out."""
    content = body if front_matter is None else f"---\n{front_matter}\n---\n{body}"
    return f"```markdown\n{content}\n```\n" if fenced else content + "\n"


def with_body(old: str, new: str, *, front_matter: str | None = FRONT_MATTER) -> str:
    """The minimal lesson with one piece of its body replaced (``old`` must occur)."""
    assert old in BODY, old
    return make_lesson(front_matter=front_matter, body=BODY.replace(old, new, 1))


def with_study_text(lines: str, *, front_matter: str | None = FRONT_MATTER) -> str:
    """The minimal lesson with another study-text block (marker and closer included)."""
    return with_body(STUDY_TEXT, lines, front_matter=front_matter)


def with_front_matter(**fields: str | None) -> str:
    """The minimal lesson with front-matter lines replaced (value None removes the key)."""
    lines = dict(line.split(": ", 1) for line in FRONT_MATTER.split("\n"))
    for key, value in fields.items():
        if value is None:
            lines.pop(key, None)
        else:
            lines[key] = value
    return make_lesson(front_matter="\n".join(f"{k}: {v}" for k, v in lines.items()))


def monologue_front_matter() -> str:
    """Front matter without speaker labels (free-prose study text)."""
    return FRONT_MATTER.rsplit("\n", 1)[0]
