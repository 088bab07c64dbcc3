"""The studio's files are its own user's only, and `check` says so when they are not."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from studio.core.checks import files_are_private

REPO = Path(__file__).resolve().parents[3]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_install_creates_its_data_folder_database_and_key_for_its_own_user_only(tmp_path):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    env["STUDIO_DATA_DIR"] = str(data)
    argv = [sys.executable, "manage.py", "migrate", "--noinput", "-v0"]
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert mode(data) == 0o700
    assert mode(data / "secret_key") == 0o600
    assert mode(data / "studio.sqlite3") == 0o600


def test_check_warns_about_files_others_can_read(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    (tmp_path / "secret_key").write_text("x")
    tmp_path.chmod(0o700)
    (tmp_path / "secret_key").chmod(0o600)
    assert [w for w in files_are_private() if str(tmp_path) in w.msg] == []
    (tmp_path / "secret_key").chmod(0o644)
    [warning] = [w for w in files_are_private() if str(tmp_path) in w.msg]
    assert warning.id == "studio.W001" and "secret_key" in warning.msg and "chmod" in warning.hint


def test_stored_media_is_readable_by_the_studio_only(settings, tmp_path):
    from django.core.files.base import ContentFile
    from django.core.files.storage import FileSystemStorage

    storage = FileSystemStorage(location=tmp_path / "media")
    name = storage.save("sessions/1/generations/2/out.png", ContentFile(b"png"))
    assert mode(tmp_path / "media" / name) == 0o600
    assert mode((tmp_path / "media" / name).parent) == 0o700
