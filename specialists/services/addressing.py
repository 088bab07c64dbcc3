"""Who the artist is talking to: a message that opens with a specialist's name, or @mentions one.

"Frame, where should the horizon sit?" is a direct question: Frame answers, and only Frame. "Luna: warmer
light, and Saga — who lives here?" has Luna first, then the rest of the round. A name inside a sentence
("frame it tightly", "a wide lens") is an ordinary word; only the opening position with a comma or colon
after it, or an @, makes it an address.
"""

import re
from dataclasses import dataclass

from specialists.models import Message, Role
from specialists.personas import PERSONAS

_ROLE_OF = {persona.name.lower(): role for role, persona in PERSONAS.items()}
_NAMES = "|".join(re.escape(name) for name in _ROLE_OF)
_OPENING = re.compile(rf"^\s*(?:(?:hey|hi|ok|okay)\s+)?@?({_NAMES})\b\s*[,:;!?—–-]", re.IGNORECASE)
_MENTION = re.compile(rf"(?<![\w@])@({_NAMES})\b", re.IGNORECASE)


@dataclass(frozen=True)
class Address:
    roles: tuple[str, ...] = ()
    # A question to one specialist: the others stay quiet this turn.
    only: bool = False


NOBODY = Address()


def address_of(text: str) -> Address:
    names = []
    if opening := _OPENING.match(text):
        names.append(opening.group(1).lower())
    names += [mention.group(1).lower() for mention in _MENTION.finditer(text)]
    roles = tuple(dict.fromkeys(_ROLE_OF[name] for name in names))
    if not roles:
        return NOBODY
    return Address(roles, only=len(roles) == 1 and text.rstrip().endswith("?"))


def addressed_by(anchor: Message) -> Address:
    """Who the artist's message that opened this turn speaks to (nobody, for any other opening)."""
    return address_of(anchor.content) if anchor.role == Role.USER else NOBODY


def muted_roles(session_settings: dict) -> frozenset[str]:
    stored = session_settings.get("muted") or []
    return frozenset(role for role in stored if role in PERSONAS)
