"""Slack markup out, plain prose in: what the scorer reads of a message."""

from __future__ import annotations

import html
import re

_FENCE = re.compile(r"```(.*?)```", re.DOTALL)
_MENTION = re.compile(r"<[@#!][^>]*>")  # <@U123>, <#C123|general>, <!here>, <!subteam^S1>
_LINK = re.compile(r"<((?:https?|mailto):[^>|]+)(?:\|([^>]*))?>")
_EMOJI = re.compile(r":[a-z0-9_+\-']+:(?::skin-tone-\d:)?", re.IGNORECASE)
_INLINE_CODE = re.compile(r"`([^`]*)`")
# Bold/italic/strike marks only where they wrap text, so "2*3" or "snake_case" survive.
_WRAPPED = [re.compile(rf"(?<![\w{m}]){m}(?=\S)(.+?)(?<=\S){m}(?![\w{m}])")
            for m in (r"\*", "_", "~")]
_QUOTE = re.compile(r"^\s*(?:>|&gt;)\s?", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*•◦]|\d+[.)])\s+", re.MULTILINE)
_SPACE = re.compile(r"[ \t\u00a0]+")


def clean(text: str) -> str:
    """Remove Slack markup: mentions, links (their label is kept), code fences and inline
    code marks (their content is kept), emoji codes, bold/italic/strike marks, quote marks
    and list bullets; decode &amp; &lt; &gt;. Sentences and line breaks are kept."""
    text = text or ""
    text = _FENCE.sub(lambda m: "\n" + m.group(1).strip() + "\n", text)
    text = _MENTION.sub(" ", text)
    text = _LINK.sub(lambda m: m.group(2) or "", text)
    text = _EMOJI.sub(" ", text)
    text = _INLINE_CODE.sub(r"\1", text)
    for pattern in _WRAPPED:
        text = pattern.sub(r"\1", text)
    text = _QUOTE.sub("", text)
    text = _BULLET.sub("", text)
    text = html.unescape(text)
    lines = [_SPACE.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)
