"""The one specification of a brief's numbers: what the studio accepts, and what Pixel is asked for.

The brief card's inputs, the form that validates them, the JSON schema the LLM fills in and the
clamping of whatever comes back all read these bounds. ``ask`` is the narrower range offered to the
model (the sizes and step counts a first try should use); ``lo``..``hi`` is what the studio accepts
from anyone, and clamps to.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Bound:
    lo: float
    hi: float
    ask: tuple[float, float]
    step: float = 1

    def clamp(self, value):
        return max(self.lo, min(self.hi, value))

    def describe(self) -> str:
        return f"{self.lo:g}–{self.hi:g}"


SIZE = Bound(64, 2048, ask=(512, 1536), step=8)
LIMITS: dict[str, Bound] = {
    "width": SIZE,
    "height": SIZE,
    "steps": Bound(1, 150, ask=(10, 60)),
    "cfg": Bound(1, 30, ask=(1, 15), step=0.5),
    "frames": Bound(1, 120, ask=(8, 50)),
    "fps": Bound(1, 60, ask=(4, 30)),
    # LoraLoader accepts ±100; past ±2 a LoRA only burns the picture.
    "lora_strength": Bound(-2, 2, ask=(0.2, 1.2), step=0.05),
}
MAX_LORAS = 3
# Pictures one Generate makes from a brief, one job each.
BATCH_COUNT = Bound(1, 4, ask=(1, 1))  # never asked of Pixel: the artist chooses on the card
# The aspect a brief names: one of the family's trained sizes (families.ASPECTS), or the width and height as typed.
CUSTOM_ASPECT = "custom"
# The schema asks for sizes in multiples of 64 (what SD-class models are trained on); 8 is what they accept.
ASK_SIZE_MULTIPLE = 64
MAX_SEED = 2**63 - 1
ASK_MAX_SEED = 2**31 - 1
MAX_PROMPT_CHARS = 4000
ASK_PROMPT_CHARS = 1500
ASK_NEGATIVE_CHARS = 600
