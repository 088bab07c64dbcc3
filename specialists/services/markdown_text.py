"""A settled reply's Markdown as HTML a browser may show: model text is untrusted.

markdown-it renders CommonMark with raw HTML off (it comes out as text) and no images; nh3 then keeps only
an allow-list of tags, `href` on links, and http(s)/mailto URLs, whatever the renderer let through.
"""

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset(
    {"p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a"}
    | {f"h{level}" for level in range(1, 7)}
)
ALLOWED_ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})

_renderer = MarkdownIt("commonmark", {"html": False}).disable("image")


def to_html(text: str) -> str:
    rendered = _renderer.render(text or "")
    return nh3.clean(
        rendered,
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
    ).strip()
