"""Reading who the artist's message speaks to."""

import pytest

from specialists.models import Role
from specialists.services.addressing import NOBODY, Address, address_of, muted_roles


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Frame, where should the horizon sit?", Address((Role.COMPOSITION,), only=True)),
        ("frame: where should the horizon sit?", Address((Role.COMPOSITION,), only=True)),
        ("Hey Lens, is it ready?", Address((Role.CRITIC,), only=True)),
        ("@saga who lives in the lighthouse?", Address((Role.STORY,), only=True)),
        ("Luna, warmer light please.", Address((Role.STYLE,), only=False)),
        ("I like it. @Pixel what sampler would you use?", Address((Role.TECHNICAL,), only=True)),
        ("Luna: warmer light, and @Saga who lives here?", Address((Role.STYLE, Role.STORY), only=False)),
        ("@luna @Luna softer", Address((Role.STYLE,), only=False)),
    ],
)
def test_it_finds_the_specialists_named_at_the_start_or_mentioned(text, expected):
    assert address_of(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Frame the lighthouse tightly, low horizon.",  # a verb, not a name
        "a wide lens and a long exposure?",
        "Make the sky like Luna said?",  # named, not addressed
        "email me at luna@example.com",
        "",
    ],
)
def test_a_name_used_as_an_ordinary_word_addresses_nobody(text):
    assert address_of(text) == NOBODY


def test_only_known_roles_are_muted():
    assert muted_roles({"muted": ["style", "artist", "critic"]}) == {Role.STYLE, Role.CRITIC}
    assert muted_roles({}) == frozenset()
