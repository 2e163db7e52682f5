"""Apply a heading colour preset to an imported page.

The original's rules (lesson-format §4.3) with its gap fixed: ``h2`` colours heading_2 blocks,
``h3`` colours heading_3 blocks, also inside toggles AND toggleable headings (the original never
descended into ``:::toggle-h2 Answer Key``), and ``toggle_map.h2`` colours the title text of a
plain toggle that directly follows a heading_2. Toggleable headings get the colour on their title
text rather than the block, so a background does not tint the hidden children. Blocks that already
have the wanted colour are counted but not updated, so a rerun costs only the listing calls.
"""

from dataclasses import dataclass
from typing import Any

from esl_dagster.pipeline.config.models import Preset
from esl_dagster.pipeline.notion.client import JSON, NotionClient

_RESPONSE_ONLY = ("plain_text", "href")


@dataclass
class ColorizeCounts:
    h2: int = 0
    h3: int = 0
    toggles: int = 0
    updates: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"h2": self.h2, "h3": self.h3, "toggles": self.toggles}


def apply_preset(client: NotionClient, page_id: str, preset: Preset) -> ColorizeCounts:
    """Colour the page's headings and toggles; returns counts ``{h2, h3, toggles}``."""
    counts = ColorizeCounts()
    _walk(client, page_id, preset, counts, top_level=True)
    return counts


def _walk(
    client: NotionClient, parent_id: str, preset: Preset, counts: ColorizeCounts, *, top_level: bool
) -> None:
    after_h2 = False
    toggle_colour = preset.toggle_map.h2 if preset.toggle_map else None
    for block in list(client.iter_block_children(parent_id)):
        kind = block["type"]
        payload: dict[str, Any] = block[kind]
        toggleable = bool(payload.get("is_toggleable"))
        level = {"heading_2": "h2", "heading_3": "h3"}.get(kind)
        colour = getattr(preset, level) if level else None
        if level and colour:
            if toggleable:
                _colour_text(client, block, colour, counts)
            else:
                _colour_block(client, block, colour, counts)
            setattr(counts, level, getattr(counts, level) + 1)
        elif kind == "toggle" and after_h2 and top_level and toggle_colour:
            _colour_text(client, block, toggle_colour, counts)
            counts.toggles += 1
        if block.get("has_children") and (kind == "toggle" or toggleable):
            _walk(client, block["id"], preset, counts, top_level=False)
        after_h2 = kind == "heading_2" and not toggleable and bool(preset.h2)


def _colour_block(client: NotionClient, block: JSON, colour: str, counts: ColorizeCounts) -> None:
    kind = block["type"]
    if block[kind].get("color", "default") == colour:
        return
    client.update_block(
        block["id"],
        {kind: {"rich_text": _request_items(block[kind]["rich_text"]), "color": colour}},
    )
    counts.updates += 1


def _colour_text(client: NotionClient, block: JSON, colour: str, counts: ColorizeCounts) -> None:
    kind = block["type"]
    items = _request_items(block[kind].get("rich_text", []))
    if all(item["annotations"].get("color") == colour for item in items):
        return
    for item in items:
        item["annotations"] = {**item["annotations"], "color": colour}
    client.update_block(block["id"], {kind: {"rich_text": items}})
    counts.updates += 1


def _request_items(items: list[JSON]) -> list[JSON]:
    return [{k: v for k, v in item.items() if k not in _RESPONSE_ONLY} for item in items]
