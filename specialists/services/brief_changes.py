"""What a revised brief changed, in words an artist reads at a glance: "+ stormy sea", "steps 20 → 28"."""

# The fields an artist chooses, in the order the brief card shows them; the seed changes with every render.
SHOWN = (
    ("checkpoint", "model"),
    ("aspect", "aspect"),
    ("style", "style"),
    ("width", "width"),
    ("height", "height"),
    ("steps", "steps"),
    ("cfg", "CFG"),
    ("sampler", "sampler"),
    ("scheduler", "scheduler"),
)


def _phrases(prompt) -> list[str]:
    return [" ".join(part.split()) for part in str(prompt or "").split(",") if part.strip()]


def brief_changes(before: dict, after: dict) -> list[str]:
    """Lines saying what ``after`` changed against ``before``; empty when nothing an artist chooses did."""
    old, new = _phrases(before.get("positive_prompt")), _phrases(after.get("positive_prompt"))
    old_keys, new_keys = {p.lower() for p in old}, {p.lower() for p in new}
    lines = []
    if added := [p for p in new if p.lower() not in old_keys]:
        lines.append("+ " + ", ".join(added))
    if removed := [p for p in old if p.lower() not in new_keys]:
        lines.append("− " + ", ".join(removed))
    if _phrases(before.get("negative_prompt")) != _phrases(after.get("negative_prompt")):
        lines.append("negative prompt changed")
    for key, label in SHOWN:
        if before.get(key) != after.get(key):
            lines.append(f"{label} {before.get(key) or '—'} → {after.get(key) or '—'}")
    return lines
