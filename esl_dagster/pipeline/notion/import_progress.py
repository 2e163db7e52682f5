"""What an import records between attempts (:class:`ImportProgress`, kept in the manifest) and
the page property that carries the lesson key; shared by the importer and the Notion service
contract (see :mod:`esl_dagster.pipeline.notion.importer` for how a retry resumes)."""

from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_KEY_PROPERTY = "Lesson Key"


@dataclass(frozen=True)
class ImportProgress:
    """What the manifest stores between attempts; plain JSON via :meth:`to_dict`."""

    page_id: str
    content_hash: str
    blocks_done: int
    blocks_total: int

    @property
    def complete(self) -> bool:
        return self.blocks_done >= self.blocks_total

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ImportProgress":
        return cls(
            page_id=str(data["page_id"]),
            content_hash=str(data["content_hash"]),
            blocks_done=int(data["blocks_done"]),
            blocks_total=int(data["blocks_total"]),
        )
