"""Article Markdown to safe HTML: markdown-it-py (CommonMark, tables, strikethrough, raw HTML off), then nh3.

Two layers: markdown-it never emits raw HTML (it is shown as text) and refuses `javascript:`-style link
targets; nh3 then keeps only an explicit allow-list of tags, attributes and URL schemes, whatever
markdown-it produced. Images may only come from our own image route, so an article can never make a
reader's browser fetch something from elsewhere.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

ALLOWED_TAGS = frozenset({
    "p", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "a", "img", "blockquote", "code", "pre",
    "table", "thead", "tbody", "tr", "th", "td", "hr", "br", "del",
})
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
}
URL_SCHEMES = frozenset({"https", "http", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
IMAGE_SRC = re.compile(r"/articles/images/[1-9][0-9]{0,9}")
# The article page's title is the h1, so the body's headings start one level below (# -> h2 … #### -> h4).
TOP_HEADING = 4


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


_MD = _parser()


def image_src(image_id: int) -> str:
    return f"/articles/images/{image_id}"


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        return value if IMAGE_SRC.fullmatch(value) else None
    if tag == "img" and attribute in ("width", "height"):
        return value if value.isascii() and value.isdigit() and len(value) <= 5 else None
    return value


def sanitise(html: str) -> str:
    """Keep only the allow-listed tags and attributes; links get rel=noopener…; foreign images lose their src."""
    return nh3.clean(html, tags=set(ALLOWED_TAGS), attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
                     attribute_filter=_attribute_filter, url_schemes=set(URL_SCHEMES), link_rel=LINK_REL,
                     strip_comments=True)


def render(markdown_text: str) -> str:
    """The body HTML stored with an article (rendered once, at save time)."""
    tokens = _MD.parse(markdown_text.replace("\r\n", "\n").replace("\r", "\n"))
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, TOP_HEADING)}"
        for child in token.children or ():
            _adjust_inline(child)
    return sanitise(_MD.renderer.render(tokens, _MD.options, {}))


def _adjust_inline(token: Token) -> None:
    if token.type in ("s_open", "s_close"):  # markdown-it writes <s>; the allow-list speaks of <del>
        token.tag = "del"
    elif token.type == "image" and not IMAGE_SRC.fullmatch(str(token.attrGet("src") or "")):
        # a foreign image becomes its description as text (nh3 would also drop its src)
        token.type, token.tag, token.content, token.children = "text", "", token.content, None


def image_ids(markdown_text: str) -> list[int]:
    """Ids of our images an article's Markdown refers to (for the edit page's overview)."""
    return sorted({int(m) for m in re.findall(r"/articles/images/([1-9][0-9]{0,9})\b", markdown_text)})
