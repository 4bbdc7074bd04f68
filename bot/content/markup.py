"""What Telegram's HTML parse mode accepts, checked before an editor's text reaches a user."""

from __future__ import annotations

import re
import string
from html.parser import HTMLParser

# https://core.telegram.org/bots/api#html-style
ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
     "tg-spoiler", "span", "blockquote", "tg-emoji"}
)  # fmt: skip
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_PRINTF = re.compile(r"%(?:\([^)]+\))?[-#0 +]*\d*(?:\.\d+)?[sdifrx%]")


class _TelegramHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.errors: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.errors.append(f"<{tag}> is not allowed by Telegram")
            return
        attributes = dict(attrs)
        if tag == "a" and not (attributes.get("href") or "").startswith(("https://", "http://", "tg://")):
            self.errors.append("<a> needs an href starting with https://")
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            self.errors.append('<span> is only allowed as <span class="tg-spoiler">')
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.errors.append(f"<{tag}/> is not allowed by Telegram (use a line break instead)")

    def handle_endtag(self, tag: str) -> None:
        if tag not in ALLOWED_TAGS:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> does not close the last opened tag")
            return
        self.stack.pop()

    def handle_comment(self, data: str) -> None:
        self.errors.append("HTML comments are not allowed by Telegram")

    def handle_decl(self, decl: str) -> None:
        self.errors.append("declarations are not allowed by Telegram")


def telegram_html_errors(text: str) -> list[str]:
    """Return why Telegram would reject `text` in HTML parse mode (empty when fine)."""
    errors: list[str] = []
    for index, char in enumerate(text):
        if char == "&" and not _ENTITY.match(text, index):
            errors.append("a bare & must be written &amp;")
            break
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    errors.extend(parser.errors)
    if parser.stack:
        errors.append(f"<{parser.stack[-1]}> is never closed")
    if re.search(r"<(?![a-zA-Z/!])", text):
        errors.append("a bare < must be written &lt;")
    return errors


def placeholders(text: str) -> set[str]:
    """Return the `{name}` and printf-style placeholders in `text`."""
    found: set[str] = set()
    try:
        for _, name, _, _ in string.Formatter().parse(text):
            if name is not None:
                found.add("{" + name + "}")
    except ValueError:
        found.add("{?unbalanced}")
    found.update(match.group(0) for match in _PRINTF.finditer(text) if match.group(0) != "%%")
    return found


TELEGRAM_MAX_CHARS = 4096
"""Telegram's limit on a message's text; longer texts are refused, not cut."""


def sending_problems(text: str, expected_placeholders: set[str] | None = None) -> list[tuple[str, str]]:
    """Return why `text` cannot be sent as it is, as (kind, detail) pairs: empty when it can.

    Kinds: "markup" (Telegram's HTML parser would refuse it), "placeholder" (its `{name}`s
    differ from `expected_placeholders`, when given) and "too-long" (over Telegram's limit).
    Both the content check and the live library call this, so that what the check passes
    is exactly what the assistant serves. Details never quote the text.
    """
    problems = [("markup", error) for error in telegram_html_errors(text)]
    if expected_placeholders is not None:
        found = placeholders(text)
        if found != expected_placeholders:
            problems.append(
                ("placeholder", f"placeholders {sorted(found)} instead of {sorted(expected_placeholders)}")
            )
    if len(text) > TELEGRAM_MAX_CHARS:
        problems.append(("too-long", f"{len(text)} characters (Telegram's limit is {TELEGRAM_MAX_CHARS})"))
    return problems
