"""Which decision the artist's idea leaves open, that the brief needs: subject, medium, the picture's shape.

A guess about the subject, the medium or the picture's shape is the commonest reason a first image misses:
asking costs the artist one line. Asked once per conversation, by the specialist whose field it is.
"""

import re
from dataclasses import dataclass

from django.conf import settings

from specialists.models import Conversation, Message, Role


@dataclass(frozen=True)
class OpenDecision:
    topic: str
    asker: str
    question: str  # said as is when the model's own question is unusable


SUBJECT = OpenDecision(
    "subject", Role.STORY, "What should the picture show — who or what is in it, and where are they?"
)
MEDIUM = OpenDecision(
    "medium", Role.STYLE, "Should it look like a photograph, a painting, an illustration or a 3D render?"
)
ASPECT = OpenDecision(
    "aspect", Role.COMPOSITION, "What shape is it for — square, portrait (a phone screen), landscape, or wide?"
)

_MEDIUM = re.compile(
    r"\b(photo\w*|paint\w*|oil|watercolou?r|acrylic|gouache|illustrat\w*|drawing|drawn|sketch\w*|pencil|"
    r"charcoal|ink|3d|render\w*|cgi|anime|manga|comic\w*|cartoon\w*|pixel art|vector|concept art|digital art|"
    r"film still|cinematic|poster|sculpt\w*|clay|claymation|low[- ]?poly|isometric|woodcut|linocut|engraving|"
    r"ukiyo-e|mural|collage|lithograph\w*|pastel|stained glass|studio ghibli|polaroid|analog|35 ?mm|dslr)\b",
    re.IGNORECASE,
)
_ASPECT = re.compile(
    r"\b(portrait|landscape|square|wide|widescreen|panoram\w*|vertical|horizontal|tall|banner|wallpaper|phone|"
    r"poster|cover|header|story|thumbnail|\d{1,2}\s*[:x×]\s*\d{1,2}|\d{3,4}\s*[x×]\s*\d{3,4})\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]{3,}")
_VAGUE = frozenset(
    "something anything thing things stuff cool nice beautiful pretty awesome amazing good great picture image "
    "art artwork make create draw generate want would like some please idea random surprise whatever "
    "the and with for from into onto over under that this there their its his her you your our".split()
)


def open_decision(idea: str) -> OpenDecision | None:
    """The first decision the artist's words leave open, or None when the team can go ahead."""
    content = [w for w in _WORD.findall(idea.lower()) if w not in _VAGUE]
    if len(content) < 2:
        return SUBJECT
    if not _MEDIUM.search(idea):
        return MEDIUM
    if not _ASPECT.search(idea):
        return ASPECT
    return None


def wanted(session) -> bool:
    return bool(session.settings.get("clarify", settings.STUDIO_CLARIFY))


def asked_already(conversation: Conversation) -> bool:
    return conversation.messages.filter(kind=Message.Kind.QUESTION).exists()


def decision_to_ask(conversation: Conversation, anchor: Message, turn: list[Message]) -> OpenDecision | None:
    """Before the team's first ideas: the decision to ask about, if the artist's words leave one open."""
    if anchor.role != Role.USER or turn or not wanted(conversation.session) or asked_already(conversation):
        return None
    return open_decision(said_by_artist(conversation))


def said_by_artist(conversation: Conversation) -> str:
    return " ".join(conversation.messages.filter(role=Role.USER).values_list("content", flat=True))
