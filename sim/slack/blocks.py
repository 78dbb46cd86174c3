"""Block Kit checks the stand-in applies, so a message Slack would refuse is refused here too.

Only the limits rollbot can plausibly hit are modelled (block count, text lengths, element
counts, ids), and errors are reported the way Slack does: an `invalid_blocks` error with
`response_metadata.messages` entries that carry a JSON pointer to the offending field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MAX_BLOCKS = 50  # a message; a Home tab's view takes up to 100 (sim.slack.views)
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTION_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255
MAX_MESSAGE_TEXT = 40_000

KNOWN_BLOCKS = {
    "section",
    "divider",
    "header",
    "context",
    "actions",
    "image",
    "rich_text",
    "input",
    "markdown",
    "file",
    "video",
}
TEXT_TYPES = {"plain_text", "mrkdwn"}
BUTTON_STYLES = {"primary", "danger"}


def validate_blocks(blocks: Any, *, max_blocks: int = MAX_BLOCKS) -> list[str]:
    """Slack-style error lines for `blocks`; an empty list means Slack would accept them."""
    if not isinstance(blocks, list):
        return ["[ERROR] must provide an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"[ERROR] no more than {max_blocks} items allowed [json-pointer:/blocks]")
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        errors.extend(_check_block(block, f"/blocks/{i}", seen_ids))
    return errors


def _err(message: str, pointer: str) -> str:
    return f"[ERROR] {message} [json-pointer:{pointer}]"


def _check_block(block: Any, at: str, seen_ids: set[str]) -> Iterator[str]:
    if not isinstance(block, dict) or block.get("type") not in KNOWN_BLOCKS:
        yield _err("invalid block type", f"{at}/type")
        return
    block_id = block.get("block_id")
    if block_id is not None:
        if not isinstance(block_id, str) or not 0 < len(block_id) <= MAX_ID:
            yield _err(f"must be at most {MAX_ID} characters", f"{at}/block_id")
        elif block_id in seen_ids:
            yield _err("block_id must be unique", f"{at}/block_id")
        else:
            seen_ids.add(block_id)
    kind = block["type"]
    if kind == "section":
        yield from _check_section(block, at)
    elif kind == "header":
        yield from _check_text(block.get("text"), f"{at}/text", limit=MAX_HEADER_TEXT, plain=True)
    elif kind == "context":
        yield from _check_context(block, at)
    elif kind == "actions":
        yield from _check_actions(block, at)


def _check_text(obj: Any, at: str, *, limit: int, plain: bool = False) -> Iterator[str]:
    if not isinstance(obj, dict) or obj.get("type") not in TEXT_TYPES:
        yield _err("must be a text object", at)
        return
    if plain and obj["type"] != "plain_text":
        yield _err("must be plain_text", f"{at}/type")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        yield _err("must be more than 0 characters", f"{at}/text")
    elif len(text) > limit:
        yield _err(f"must be less than {limit + 1} characters", f"{at}/text")


def _check_section(block: dict[str, Any], at: str) -> Iterator[str]:
    text, fields = block.get("text"), block.get("fields")
    if text is None and not fields:
        yield _err("must provide text or fields", at)
    if text is not None:
        yield from _check_text(text, f"{at}/text", limit=MAX_SECTION_TEXT)
    if fields is not None:
        if not isinstance(fields, list) or len(fields) > MAX_FIELDS:
            yield _err(f"no more than {MAX_FIELDS} items allowed", f"{at}/fields")
        else:
            for j, item in enumerate(fields):
                yield from _check_text(item, f"{at}/fields/{j}", limit=MAX_FIELD_TEXT)
    accessory = block.get("accessory")
    if accessory is not None:
        yield from _check_element(accessory, f"{at}/accessory")


def _check_context(block: dict[str, Any], at: str) -> Iterator[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 0 < len(elements) <= MAX_CONTEXT_ELEMENTS:
        yield _err(f"must have 1 to {MAX_CONTEXT_ELEMENTS} elements", f"{at}/elements")
        return
    for j, element in enumerate(elements):
        if isinstance(element, dict) and element.get("type") in TEXT_TYPES:
            yield from _check_text(element, f"{at}/elements/{j}", limit=MAX_SECTION_TEXT)
        elif not (isinstance(element, dict) and element.get("type") == "image"):
            yield _err("must be a text or image element", f"{at}/elements/{j}")


def _check_actions(block: dict[str, Any], at: str) -> Iterator[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 0 < len(elements) <= MAX_ACTION_ELEMENTS:
        yield _err(f"must have 1 to {MAX_ACTION_ELEMENTS} elements", f"{at}/elements")
        return
    action_ids: set[str] = set()
    for j, element in enumerate(elements):
        yield from _check_element(element, f"{at}/elements/{j}")
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if isinstance(action_id, str):
            if action_id in action_ids:
                yield _err("action_id must be unique in the block", f"{at}/elements/{j}/action_id")
            action_ids.add(action_id)


def _check_element(element: Any, at: str) -> Iterator[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        yield _err("must be an element object", at)
        return
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > MAX_ID):
        yield _err(f"must be at most {MAX_ID} characters", f"{at}/action_id")
    if element["type"] != "button":
        return
    yield from _check_text(element.get("text"), f"{at}/text", limit=MAX_BUTTON_TEXT, plain=True)
    value = element.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
        yield _err(f"must be less than {MAX_BUTTON_VALUE + 1} characters", f"{at}/value")
    style = element.get("style")
    if style is not None and style not in BUTTON_STYLES:
        yield _err("must be primary or danger", f"{at}/style")
