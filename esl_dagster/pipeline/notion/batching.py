"""Split a block tree into API-valid requests.

Notion accepts, per create/append request, at most 100 blocks in any children array, at most two
levels of nesting below the request's top-level blocks, and at most 1,000 blocks in total (and a
body well under 500 KB). :func:`plan_batches` cuts the top level into batches and, inside each
batch, truncates what does not fit. Whatever is cut is returned as a :class:`Deferred`: the index
path of the parent inside the batch and the remaining children, to be appended to that parent once
it exists. Only tails are deferred, so appending them at the end of their parent keeps the order.
Blocks that cannot exist without children (table, column list, column) are placed only where their
required children fit.
"""

import json
from dataclasses import dataclass, field

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.notion.block_payloads import Block, children_of, with_children

MAX_CHILDREN = 100
MAX_LEVEL = 3
MAX_BLOCKS_PER_REQUEST = 1000
MAX_BYTES_PER_REQUEST = 400_000
_MIN_DEPTH = {"table": 2, "column": 2, "column_list": 3}
_PLACEHOLDER: Block = {"type": "paragraph", "paragraph": {"rich_text": []}}


@dataclass(frozen=True)
class Deferred:
    """Children to append to the block at ``path`` (indices from the batch's top level)."""

    path: tuple[int, ...]
    children: list[Block]


@dataclass
class Batch:
    blocks: list[Block] = field(default_factory=list)
    deferred: list[Deferred] = field(default_factory=list)
    block_count: int = 0
    byte_count: int = 0


@dataclass(frozen=True)
class _Room:
    blocks: int
    bytes: int

    def minus(self, blocks: int, size: int) -> "_Room":
        return _Room(self.blocks - blocks, self.bytes - size)


@dataclass(frozen=True)
class _Fitted:
    block: Block
    deferred: list[Deferred]
    blocks: int
    bytes: int


def plan_batches(blocks: list[Block]) -> list[Batch]:
    """Top-level batches of at most 100 blocks, each within the per-request limits."""
    batches: list[Batch] = []
    current = Batch()
    for block in blocks:
        fitted = None
        if len(current.blocks) < MAX_CHILDREN:
            fitted = _fit(block, 1, _room_left(current))
        if fitted is None and current.blocks:
            batches.append(current)
            current = Batch()
            fitted = _fit(block, 1, _room_left(current))
        if fitted is None:
            raise ValidationError(f"A {block['type']} block is too large for one Notion request.")
        index = len(current.blocks)
        current.blocks.append(fitted.block)
        current.deferred.extend(Deferred((index, *d.path), d.children) for d in fitted.deferred)
        current.block_count += fitted.blocks
        current.byte_count += fitted.bytes
    if current.blocks:
        batches.append(current)
    return batches


def count_blocks(blocks: list[Block]) -> int:
    """Blocks in a tree, counting every descendant."""
    return sum(1 + count_blocks(children_of(block)) for block in blocks)


def _room_left(batch: Batch) -> _Room:
    return _Room(
        MAX_BLOCKS_PER_REQUEST - batch.block_count, MAX_BYTES_PER_REQUEST - batch.byte_count
    )


def _own_bytes(block: Block) -> int:
    return len(json.dumps(with_children(block, []), ensure_ascii=False).encode()) + 2


def _fit(block: Block, level: int, room: _Room) -> _Fitted | None:
    own = _own_bytes(block)
    if (
        room.blocks < 1
        or room.bytes < own
        or level + _MIN_DEPTH.get(block["type"], 1) - 1 > MAX_LEVEL
    ):
        return None
    room = room.minus(1, own)
    used_blocks, used_bytes = 1, own
    kids = children_of(block)
    placed: list[Block] = []
    deferred: list[Deferred] = []
    for index, kid in enumerate(kids):
        fitted = None
        if len(placed) < MAX_CHILDREN and level < MAX_LEVEL:
            fitted = _fit(kid, level + 1, room)
        if fitted is None:
            deferred.append(Deferred((), kids[index:]))
            break
        deferred.extend(Deferred((len(placed), *d.path), d.children) for d in fitted.deferred)
        placed.append(fitted.block)
        room = room.minus(fitted.blocks, fitted.bytes)
        used_blocks += fitted.blocks
        used_bytes += fitted.bytes
    kind = block["type"]
    if kids and not placed and kind in _MIN_DEPTH:
        if kind != "column":
            return None
        placed = [_PLACEHOLDER]
        used_blocks += 1
    if kind == "column_list" and (len(placed) < 2 or any(not d.path for d in deferred)):
        return None
    return _Fitted(with_children(block, placed), deferred, used_blocks, used_bytes)
