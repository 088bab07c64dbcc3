"""`manage.py check` (and every start) warns when the studio's files can be read by other users."""

import stat
from pathlib import Path

from django.conf import settings
from django.core.checks import Warning as CheckWarning
from django.core.checks import register


def _exposed(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


def studio_files() -> list[Path]:
    paths = [settings.DATA_DIR, settings.DATA_DIR / "secret_key", Path(settings.MEDIA_ROOT)]
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        paths.append(Path(database["NAME"]))
    return paths


@register()
def files_are_private(app_configs=None, **kwargs):
    return [
        CheckWarning(
            f"{path} can be read by other users of this machine.",
            hint=f"Run `chmod -R go-rwx {path}`; the studio creates its files for its own user only.",
            id="studio.W001",
        )
        for path in studio_files()
        if _exposed(path)
    ]
