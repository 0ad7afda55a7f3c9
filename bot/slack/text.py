"""Pure parsing of what only Slack sends: its markup, `/mlsprep` arguments, button values.

What a typed message means (a command word or an answer) and whether an answer can be graded
is bot.core.turn's, as for the terminal. Nothing here talks to Slack or the coach, so every
rule is a plain function tested as one.
"""

from __future__ import annotations

import html
import re

from rapidfuzz import fuzz, process

_MENTION = re.compile(r"<[@!][^>]*>")
_CHANNEL = re.compile(r"<#([A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_EMPHASIS = re.compile(r"(?<![\w*_~])[*_~]+(?=\S)|(?<=\S)[*_~]+(?![\w*_~])")
_SPACES = re.compile(r"[ \t]+")


def plain_text(text: str | None) -> str:
    """What a person wrote, without Slack's markup: mentions, link syntax, entities, emphasis."""
    if not text:
        return ""
    text = _MENTION.sub("", text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1).removeprefix("mailto:"), text)
    text = text.replace("```", "\n").replace("`", "")
    text = _EMPHASIS.sub("", text)
    text = html.unescape(text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()


def only_markup(text: str | None) -> bool:
    """True when a message had words, but all of them were markup (mentions, links)."""
    return bool(re.search(r"[^\W_]", text or "")) and not re.search(r"[^\W_]", plain_text(text))


# --- /mlsprep ----------------------------------------------------------------------------------

def split_command(text: str | None) -> tuple[str, str]:
    """`/mlsprep ask security` -> ("ask", "security")."""
    words = (text or "").strip().split(None, 1)
    if not words:
        return "", ""
    return words[0].lower(), (words[1].strip() if len(words) > 1 else "")


def suggest(word: str, choices: list[str]) -> str | None:
    """The subcommand nearest to a mistyped one, if any is near enough."""
    if not word:
        return None
    found = process.extractOne(word, choices, scorer=fuzz.WRatio, score_cutoff=60)
    return found[0] if found else None


_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_CHANNEL_ARG = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")


class BadArguments(ValueError):
    """The arguments of a subcommand do not parse; the message says what was expected."""


def parse_daily_args(rest: str) -> tuple[str, str] | str:
    """`daily #channel HH:MM` -> (channel_id, "HH:MM"); `daily now` -> "now"."""
    parts = rest.split()
    if [p.lower() for p in parts] == ["now"]:
        return "now"
    if len(parts) != 2:
        raise BadArguments("Use `/mlsprep daily #channel HH:MM` or `/mlsprep daily now`.")
    channel_arg, time_arg = parts
    match = _CHANNEL_ARG.match(channel_arg)
    channel = match.group(1) if match else (channel_arg if _CHANNEL_ID.match(channel_arg) else "")
    if not channel:
        raise BadArguments(f"I don't recognise {channel_arg!r} as a channel: pick it with `#` so "
                           "Slack links it, e.g. `/mlsprep daily #ml-study 09:00`.")
    time_match = _TIME.match(time_arg)
    if not time_match:
        raise BadArguments(f"{time_arg!r} is not a time: use 24-hour HH:MM, e.g. `09:00`.")
    return channel, f"{int(time_match.group(1)):02d}:{time_match.group(2)}"


# --- button values ---------------------------------------------------------------------------

_QUESTION_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class TamperedValue(ValueError):
    """A button value that this app could not have produced."""


def parse_question_value(value: str | None) -> str:
    if not value or len(value) > 100 or not _QUESTION_ID.match(value):
        raise TamperedValue(value)
    return value


def choice_value(question_id: str, letter: str) -> str:
    return f"{question_id}:{letter}"


def parse_choice_value(value: str | None, action_id: str | None = None) -> tuple[str, str]:
    """`"sagemaker-spot:C"` -> ("sagemaker-spot", "C"); the letter must match the action id."""
    question_id, _, letter = (value or "").rpartition(":")
    if not re.fullmatch(r"[A-Z]", letter):
        raise TamperedValue(value)
    if action_id is not None and not action_id.endswith(f"_{letter}"):
        raise TamperedValue(value)
    return parse_question_value(question_id), letter


def parse_topic_value(value: str | None) -> str | None:
    value = (value or "").strip()
    if len(value) > 60 or not re.fullmatch(r"[\w .&/-]*", value):
        raise TamperedValue(value)
    return value or None
