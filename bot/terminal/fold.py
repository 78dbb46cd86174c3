"""The terminal at scale: messages written for a Slack thread, folded to fit a screen.

Slack keeps a 1,000-tenant batch readable by packing it into sections and ending with
"… and N more"; a terminal has no sections, so the same messages printed whole ran to
thousands of lines, and a plan's batch line to thousands of names. The terminal keeps
what Slack leads with, in the order the renderer chose (failures first): a message's
first line, up to a screenful of its lines below it, and in a line that lists names
("Batch 3 (1000): a, b, …") the first few names, each cut ending with how many more there
are. `--verbose` (`plan --all`) prints every line and every name.
"""

from __future__ import annotations

import re

SCREENFUL = 20  # lines under a message's first line before "… and N more"
NAMES_SHOWN = 8  # names a listing line shows before "… and N more"

# "Batch 3 (1000): tenant-a, tenant-b, ...": a label, its count, then that many names.
_LISTING = re.compile(r"^(?P<label>.*\((?P<count>\d+)\): )(?P<names>.+)$")


def more(hidden: int, what: str = "") -> str:
    """The line or tail that stands for what was left out: never a silent cut."""
    return f"… and {hidden:,} more{what}"


def short_listing(line: str) -> str:
    """A line listing N names, cut to the first NAMES_SHOWN; any other line as it is.

    The count in brackets must match the names, so prose that happens to contain commas
    is never mistaken for a list."""
    found = _LISTING.match(line)
    if found is None:
        return line
    names = found["names"].split(", ")
    if len(names) != int(found["count"]) or len(names) <= NAMES_SHOWN:
        return line
    shown = ", ".join(names[:NAMES_SHOWN])
    return f"{found['label']}{shown}, {more(len(names) - NAMES_SHOWN)}"


def fold(text: str, *, everything: bool, flag: str) -> str:
    """`text` as the terminal shows it: whole when `everything`, else its first line and
    a screenful of the rest, names in listing lines cut; `flag` is how to see it all."""
    if everything:
        return text
    head, *rest = text.splitlines() or [""]
    lines = [short_listing(head), *(short_listing(line) for line in rest[:SCREENFUL])]
    if len(rest) > SCREENFUL:
        lines.append(more(len(rest) - SCREENFUL, f" ({flag} shows every one)"))
    hint = any(line != short_listing(line) for line in [head, *rest[:SCREENFUL]])
    if hint and len(rest) <= SCREENFUL:
        lines.append(f"({flag} shows every name)")
    return "\n".join(lines)
