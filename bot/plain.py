"""Slack mrkdwn to terminal text: the terminal prints the same messages Slack shows."""

from __future__ import annotations

import re

_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_USER = re.compile(r"<@([A-Z0-9]+)>")
_GROUP = re.compile(r"<!subteam\^([A-Z0-9]+)>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")


def plain(text: str) -> str:
    text = _LINK.sub(r"\2 (\1)", text)
    text = _USER.sub(r"@\1", text)
    text = _GROUP.sub(r"@\1", text)
    text = _BOLD.sub(r"\1", text)
    text = text.replace("```", "").replace("`", "")
    # What Slack needs escaped (a build's output, shown as it is) reads plainly here.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
