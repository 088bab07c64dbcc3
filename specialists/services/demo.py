"""A demo session with a finished conversation and generations, made idempotently."""

import io

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image, ImageDraw

from generations.models import Generation, MediaKind, MediaOutput
from specialists.models import Actor, Conversation, Message, Phase, Role
from specialists.services.brief_draft import BRIEF_INVITATION
from studio.core.models import Session

DEMO_KEY = "lighthouse-demo-v1"
DEMO_TITLE = "Demo · The last night of the lighthouse keeper"

_BRIEF = {
    "positive_prompt": (
        "an old lighthouse keeper on the gallery of a lighthouse at dusk, last light, storm clouds parting, "
        "warm lamp glow against teal sea, cinematic, 35mm film grain, painterly, highly detailed"
    ),
    "negative_prompt": "blurry, low quality, watermark, text, extra limbs",
    "checkpoint": "sd_xl_base_1.0.safetensors",
    "width": 1024,
    "height": 768,
    "steps": 28,
    "cfg": 6.5,
    "sampler": "dpmpp_2m",
    "scheduler": "karras",
    "seed": 421337,
    "media_kind": "image",
}

_SCRIPT = [
    (Role.USER, "A lighthouse keeper's last night before the light goes automatic."),
    (Role.STYLE, "I see teal dusk and one warm amber window — a Hopper-like loneliness, with soft film grain."),
    (Role.COMPOSITION, "Low angle from the rocks, the tower on the right third, the keeper tiny on the gallery rail."),
    (Role.STORY, "He is polishing the lens one last time; a packed suitcase waits by the door below."),
    (Role.USER, "Love the suitcase. Keep it quiet and cinematic."),
    (Role.CRITIC, "Make sure the suitcase reads at this scale: a lit doorway would frame it."),
]


def _picture(seed: int, size=(512, 384)) -> bytes:
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(size[1]):
        t = y / size[1]
        draw.line([(0, y), (size[0], y)], fill=(int(20 + 60 * t), int(60 + 40 * t), int(90 + 30 * (1 - t))))
    x = 300 + seed % 60
    draw.rectangle([x, 120, x + 40, 330], fill=(230, 226, 214))
    draw.ellipse([x - 10, 95, x + 50, 135], fill=(255, 190, 90))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _animation(size=(256, 192), frames=8) -> bytes:
    images = []
    for n in range(frames):
        frame = Image.new("RGB", size, (18, 52, 78))
        ImageDraw.Draw(frame).ellipse([40 + n * 18, 60, 90 + n * 18, 110], fill=(255, 190, 90))
        images.append(frame)
    buffer = io.BytesIO()
    images[0].save(buffer, "WEBP", save_all=True, append_images=images[1:], duration=120, loop=0)
    return buffer.getvalue()


@transaction.atomic
def seed_demo(user) -> tuple[Session, bool]:
    """Returns the demo session and whether it was created now."""
    existing = Session.objects.filter(owner=user, settings__demo=DEMO_KEY).first()
    if existing is not None:
        return existing, False
    session = Session.objects.create(owner=user, title=DEMO_TITLE, settings={"demo": DEMO_KEY})
    conversation = Conversation.objects.create(session=session)
    for role, text in _SCRIPT:
        conversation.append_message(role, text, metadata={"model": "demo"} if role != Role.USER else {})
    for phase in (Phase.REFINEMENT, Phase.SYNTHESIS, Phase.REVIEW):
        conversation.move_to(phase, by=Actor.TEAM)
    conversation.append_message(
        Role.TECHNICAL,
        f"Here is the brief. {BRIEF_INVITATION}",
        kind=Message.Kind.BRIEF,
        brief=_BRIEF,
        metadata={"warnings": []},
    )
    conversation.move_to(Phase.GENERATING, by=Actor.ARTIST)
    made = [
        (MediaKind.IMAGE, _BRIEF, "demo_00001_.png", _picture(421337), "image/png"),
        (MediaKind.IMAGE, {**_BRIEF, "seed": 77}, "demo_00002_.png", _picture(77), "image/png"),
        (MediaKind.VIDEO, {**_BRIEF, "media_kind": "video", "seed": 5}, "demo_00003_.webp", _animation(), "image/webp"),
    ]
    for kind, parameters, filename, data, content_type in made:
        generation = Generation.objects.create(
            session=session,
            kind=kind,
            template="video" if kind == MediaKind.VIDEO else "txt2img",
            parameters=parameters,
            status=Generation.Status.COMPLETE,
            progress=1.0,
        )
        conversation.append_message(Role.SYSTEM, "", kind=Message.Kind.GENERATION, generation=generation)
        output = MediaOutput(
            generation=generation,
            kind=kind,
            content_type=content_type,
            node_id="9",
            original_filename=filename,
            source_key=f"9/{filename}",
            size_bytes=len(data),
        )
        output.file.save(filename, ContentFile(data), save=True)
    conversation.move_to(Phase.COMPLETE, by=Actor.RESULT)
    conversation.append_message(
        Role.CRITIC,
        "The amber window carries the story; the suitcase still gets lost. A tighter crop would fix it.",
        metadata={"model": "demo"},
    )
    Message.objects.filter(conversation=conversation).update(status=Message.Status.COMPLETE)
    return session, True
