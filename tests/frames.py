"""Reading the studio's websocket frames (HTML fragments), for the tests and the benchmarks alike."""

import html
import re

# <article id="message-<id>" class="msg msg-<role> msg-<kind> is-<status>"
ARTICLE = re.compile(r'<article id="message-(\d+)" class="msg msg-(\w+) msg-(\w+) is-(\w+)"')
BODY = re.compile(r'<div id="message-(\d+)-body" class="body[^"]*"[^>]*>(.*?)</div>', re.S)
TOKEN = re.compile(r'<span hx-swap-oob="beforeend:#message-(\d+)-body">(.*?)</span>', re.S)
CARD = re.compile(r'<div id="generation-(\d+)" class="generation-card[^"]*" data-status="(\w+)"')


def articles(frame: str):
    """(message id, role, kind, status) of every bubble in the frame."""
    for match in ARTICLE.finditer(frame):
        yield int(match.group(1)), match.group(2), match.group(3), match.group(4)


REPLACING = re.compile(r'<article id="message-(\d+)"[^>]*hx-swap-oob="outerHTML"')


def replacing(frame: str) -> set[int]:
    """The ids of the bubbles the frame replaces (out of band): a browser swaps them only where they already are."""
    return {int(match.group(1)) for match in REPLACING.finditer(frame)}


TAG = re.compile(r"<[^>]+>")


def bodies(frame: str):
    """(message id, whole text) of every bubble body the frame replaces: what a reader sees, so a settled
    reply's rendered Markdown counts by its text."""
    for match in BODY.finditer(frame):
        yield int(match.group(1)), html.unescape(TAG.sub("", match.group(2)))


def tokens(frame: str):
    """(message id, text) of every token the frame appends."""
    for match in TOKEN.finditer(frame):
        yield int(match.group(1)), html.unescape(match.group(2))
