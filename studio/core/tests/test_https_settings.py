"""HTTPS settings come from the environment: read the way a started studio reads them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
KEYS = (
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
)


def _settings_with(tmp_path, **env) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{k: getattr(settings, k) for k in {KEYS!r}}}))"
    )
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")},
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "STUDIO_DATA_DIR": str(tmp_path),
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    if result.returncode:
        return {"error": result.stderr.strip().splitlines()[-1]}
    return json.loads(result.stdout)


def test_a_plain_local_install_sends_ordinary_cookies_and_no_hsts(tmp_path):
    values = _settings_with(tmp_path)
    assert values["SESSION_COOKIE_SECURE"] is False and values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0 and values["SECURE_PROXY_SSL_HEADER"] is None


def test_studio_https_makes_cookies_secure_and_turns_on_hsts(tmp_path):
    values = _settings_with(tmp_path, STUDIO_HTTPS="1", STUDIO_PROXY_SSL_HEADER="X-Forwarded-Proto")
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_each_https_setting_can_be_set_on_its_own(tmp_path):
    values = _settings_with(
        tmp_path,
        STUDIO_HTTPS="1",
        STUDIO_HSTS_SECONDS="600",
        STUDIO_SSL_REDIRECT="1",
        STUDIO_HSTS_INCLUDE_SUBDOMAINS="1",
    )
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_SSL_REDIRECT"] is True and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("STUDIO_HTTPS", "maybe", "STUDIO_HTTPS must be one of"),
        ("STUDIO_HSTS_SECONDS", "-1", "STUDIO_HSTS_SECONDS must be at least 0"),
        ("STUDIO_PROXY_SSL_HEADER", "X-Forwarded-Proto: https", "STUDIO_PROXY_SSL_HEADER must be a header name"),
    ],
)
def test_a_mistyped_https_setting_stops_the_studio_with_its_name(tmp_path, name, value, says):
    assert says in _settings_with(tmp_path, **{name: value})["error"]
