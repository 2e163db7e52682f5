"""Apply a heading colour preset to an imported page, or plan it offline.

The original's rules (lesson-format §4.3) with its gap fixed: ``h2`` colours heading_2 blocks,
``h3`` colours heading_3 blocks, also inside toggles AND toggleable headings (the original never
descended into ``:::toggle-h2 Answer Key``), and ``toggle_map.h2`` colours the title text of a
plain toggle that directly follows a heading_2. Toggleable headings get the colour on their title
text rather than the block, so a background does not tint the hidden children. Blocks that already
have the wanted colour are counted but not updated, so a rerun costs only the listing calls.

:func:`plan_colours` holds these rules once, over any source of blocks: the real page's children
listed from Notion (:func:`apply_preset`) or the block payloads preview mode builds.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from esl_dagster.pipeline.config.models import Preset
from esl_dagster.pipeline.notion.client import JSON, NotionClient

_RESPONSE_ONLY = ("plain_text", "href")

ChildrenOf = Callable[[str], Iterable[JSON]]
"""The blocks under a parent id, in page order, each with ``id``, ``type`` and ``has_children``."""


@dataclass
class ColorizeCounts:
    h2: int = 0
    h3: int = 0
    toggles: int = 0
    updates: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"h2": self.h2, "h3": self.h3, "toggles": self.toggles}


@dataclass(frozen=True)
class ColourUpdate:
    """One block update the preset needs: ``PATCH /v1/blocks/{block_id}`` with ``body``."""

    block_id: str
    body: JSON


@dataclass
class ColourPlan:
    """What the preset colours (``counts``) and the updates it still needs (already-coloured
    blocks are counted but need none); ``counts.updates`` is ``len(updates)``."""

    counts: ColorizeCounts = field(default_factory=ColorizeCounts)
    updates: list[ColourUpdate] = field(default_factory=list)

    def add(self, update: ColourUpdate | None) -> None:
        if update is not None:
            self.updates.append(update)
            self.counts.updates += 1


def apply_preset(client: NotionClient, page_id: str, preset: Preset) -> ColorizeCounts:
    """Colour the page's headings and toggles; returns counts ``{h2, h3, toggles}``."""
    plan = plan_colours(page_id, client.iter_block_children, preset)
    for update in plan.updates:
        client.update_block(update.block_id, update.body)
    return plan.counts


def plan_colours(page_id: str, children_of: ChildrenOf, preset: Preset) -> ColourPlan:
    """The counts and updates ``preset`` gives the page ``page_id``, without writing anything."""
    plan = ColourPlan()
    _walk(children_of, page_id, preset, plan, top_level=True)
    return plan


def _walk(
    children_of: ChildrenOf, parent_id: str, preset: Preset, plan: ColourPlan, *, top_level: bool
) -> None:
    after_h2 = False
    toggle_colour = preset.toggle_map.h2 if preset.toggle_map else None
    counts = plan.counts
    for block in list(children_of(parent_id)):
        kind = block["type"]
        payload: dict[str, Any] = block[kind]
        toggleable = bool(payload.get("is_toggleable"))
        level = {"heading_2": "h2", "heading_3": "h3"}.get(kind)
        colour = getattr(preset, level) if level else None
        if level and colour:
            plan.add(_text_update(block, colour) if toggleable else _block_update(block, colour))
            setattr(counts, level, getattr(counts, level) + 1)
        elif kind == "toggle" and after_h2 and top_level and toggle_colour:
            plan.add(_text_update(block, toggle_colour))
            counts.toggles += 1
        if block.get("has_children") and (kind == "toggle" or toggleable):
            _walk(children_of, block["id"], preset, plan, top_level=False)
        after_h2 = kind == "heading_2" and not toggleable and bool(preset.h2)


def _block_update(block: JSON, colour: str) -> ColourUpdate | None:
    kind = block["type"]
    if block[kind].get("color", "default") == colour:
        return None
    body = {kind: {"rich_text": _request_items(block[kind]["rich_text"]), "color": colour}}
    return ColourUpdate(block["id"], body)


def _text_update(block: JSON, colour: str) -> ColourUpdate | None:
    kind = block["type"]
    items = _request_items(block[kind].get("rich_text", []))
    if all(item["annotations"].get("color") == colour for item in items):
        return None
    for item in items:
        item["annotations"] = {**item["annotations"], "color": colour}
    return ColourUpdate(block["id"], {kind: {"rich_text": items}})


def _request_items(items: list[JSON]) -> list[JSON]:
    return [{k: v for k, v in item.items() if k not in _RESPONSE_ONLY} for item in items]
