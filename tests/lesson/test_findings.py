"""The finding catalogue documents every code exactly once."""

import re

from esl_dagster.pipeline.lesson import findings
from esl_dagster.pipeline.lesson.findings import WARNING_CODES, Code, finding


def test_docstring_table_lists_every_code_with_its_severity() -> None:
    doc = findings.__doc__ or ""
    rows = dict(re.findall(r"^([a-z_]+\.[a-z_0-9]+)\s+(error|warning)\s", doc, re.MULTILINE))
    assert set(rows) == {code.value for code in Code}
    assert {code for code, severity in rows.items() if severity == "warning"} == {
        code.value for code in WARNING_CODES
    }


def test_finding_takes_its_severity_from_the_catalogue() -> None:
    assert finding(Code.BODY_CODE_BLOCK, "x").severity == "warning"
    assert finding(Code.TABLE_COLUMNS, "x", 3).model_dump() == {
        "code": "table.columns",
        "message": "x",
        "line": 3,
        "severity": "error",
    }
