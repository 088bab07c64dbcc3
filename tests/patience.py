"""How long a test waits for an event before it fails.

The ceilings in the tests are generous, so a busy machine still passes. STUDIO_TEST_PATIENCE scales them:
the mutation tester (scripts/mutation.py) shortens them, because a mutant that makes a test wait for an
event that never comes costs the whole ceiling, and mutmut's clean run checks first that the suite passes.
"""

import os
import time


def _scale() -> float:
    raw = os.environ.get("STUDIO_TEST_PATIENCE", "1")
    try:
        scale = float(raw)
    except ValueError:
        raise ValueError(f"STUDIO_TEST_PATIENCE must be a number of times the usual ceilings, not {raw!r}") from None
    if not 0 < scale <= 10:
        raise ValueError(f"STUDIO_TEST_PATIENCE must be above 0 and at most 10, not {raw!r}")
    return scale


SCALE = _scale()


def ceiling(seconds: float) -> float:
    """The moment (time.monotonic) a wait of ``seconds`` at the usual patience gives up."""
    return time.monotonic() + seconds * SCALE
