"""A settled reply's Markdown, rendered and sanitised: model text is untrusted."""

from html.parser import HTMLParser

import pytest

from specialists.services.markdown_text import ALLOWED_TAGS, to_html


class _Markup(HTMLParser):
    """The tags and attributes a browser would build from the HTML (text, escaped or not, is just text)."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def live_markup(html: str) -> list:
    """Every tag outside the allow-list, every attribute but a link's web or mail address and rel."""
    found = []
    for tag, attrs in _Markup(html).tags:
        if tag not in ALLOWED_TAGS:
            found.append(tag)
        for name, value in attrs.items():
            safe_link = tag == "a" and name == "href" and value.lower().startswith(("https:", "http:", "mailto:"))
            if not (safe_link or (tag == "a" and name == "rel")):
                found.append(f"{tag}[{name}={value}]")
    return found


def test_markdown_becomes_the_formatting_a_reader_expects():
    html = to_html("## Palette\n\n**Amber** and _teal_:\n\n- low camera\n- `35mm`\n\n> quiet")
    assert "<h2>Palette</h2>" in html and "<strong>Amber</strong>" in html and "<em>teal</em>" in html
    assert "<li>low camera</li>" in html and "<code>35mm</code>" in html and "<blockquote>" in html


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "<iframe src=//evil></iframe>",
        '<a href="javascript:alert(1)">x</a>',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](data:text/html,<script>alert(1)</script>)",
        "![pixel](https://evil.example/track.png)",
        '<svg onload="alert(1)"></svg>',
        "<style>body{display:none}</style>",
        "**<b onmouseover=alert(1)>x</b>**",
        "[x](https://ok.example \"t\" onmouseover=alert(1))",
    ],
)
def test_hostile_markdown_leaves_no_live_markup(hostile):
    html = to_html(hostile)
    assert live_markup(html) == [], html


def test_links_keep_only_web_and_mail_addresses_and_never_pass_on_the_studio():
    html = to_html("[map](https://example.org/map) and [mail](mailto:a@example.org) and [local](file:///etc/passwd)")
    assert '<a href="https://example.org/map" rel="noopener noreferrer nofollow">map</a>' in html
    assert 'href="mailto:a@example.org"' in html
    assert "file:" not in html.split("local")[0]
