"""Which specialists speak in which phase, and for how many rounds."""

from dataclasses import dataclass

from specialists.models import Phase, Role


@dataclass(frozen=True)
class PhasePlan:
    speakers: tuple[str, ...]
    max_rounds: int
    instruction: str
    # Speakers of one round may answer without hearing each other (can run concurrently).
    independent: bool = False


PLANS: dict[str, PhasePlan] = {
    Phase.IDEATION: PhasePlan(
        (Role.STYLE, Role.COMPOSITION, Role.STORY),
        2,
        "Ideation: open up possibilities. Offer your boldest take on the artist's idea from your specialty.",
        independent=True,
    ),
    Phase.REFINEMENT: PhasePlan(
        (Role.STYLE, Role.COMPOSITION, Role.STORY, Role.CRITIC),
        1,
        "Refinement: converge. Pick the strongest direction discussed so far and make it concrete and specific.",
    ),
    Phase.SYNTHESIS: PhasePlan(
        (Role.TECHNICAL,),
        1,
        "Synthesis: turn the whole discussion into one precise generation brief.",
    ),
    Phase.REVIEW: PhasePlan(
        (Role.CRITIC,),
        1,
        "Review: check Pixel's brief against what the artist asked for. Name the single most important fix, "
        "or say it is ready to generate.",
    ),
    Phase.GENERATING: PhasePlan((), 1, "The image is being generated."),
    Phase.COMPLETE: PhasePlan(
        (Role.CRITIC,),
        1,
        "The result is in. Comment on how well it realises the brief and suggest one improvement for a variation.",
    ),
}


def plan_for(phase: str, session_settings: dict | None = None) -> PhasePlan:
    plan = PLANS[phase]
    rounds = (session_settings or {}).get("rounds", {}).get(phase)
    if isinstance(rounds, int) and 1 <= rounds <= 10:
        return PhasePlan(plan.speakers, rounds, plan.instruction, plan.independent)
    return plan
