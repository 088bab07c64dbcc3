"""Creative Studio settings.

With no environment at all this runs on one machine with no servers: SQLite,
the in-memory channel layer, an in-process cache and Celery tasks executed in
this process (off the event loop). DATABASE_URL and REDIS_URL switch to
PostgreSQL, channels-redis, a Redis cache and Celery on Redis.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from studio.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_proxy_ssl_header,
    env_str,
    env_url,
    is_loopback_host,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# Everything the studio writes (database, secret key, media, logs) is its own user's only: session
# keys and the artist's pictures are nobody else's business on a shared machine.
os.umask(0o077)
DATA_DIR = Path(env_str("STUDIO_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


def _secret_key() -> str:
    configured = env_str("SECRET_KEY")
    if configured:
        return configured
    # A local install keeps one generated key so logins survive restarts.
    path = DATA_DIR / "secret_key"
    try:
        # Created 0600 from the start: never readable by others, not even for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)

# Where daphne listens. While that is loopback only, a local user is signed in
# automatically; anything wider requires a real sign-in.
STUDIO_HOST = env_str("STUDIO_HOST", "127.0.0.1")
STUDIO_PORT = env_int("STUDIO_PORT", 8000, minimum=1, maximum=65535)
LOCAL_AUTO_LOGIN = is_loopback_host(STUDIO_HOST) and not env_bool("STUDIO_REQUIRE_LOGIN", False)
LOCAL_USERNAME = env_str("STUDIO_LOCAL_USER", "local")

# The test runner adds its own "testserver"; a running studio answers to loopback names and these only.
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", *env_list("ALLOWED_HOSTS")]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "studio.core",
    "specialists",
    "generations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "studio.core.middleware.LocalUserMiddleware",
    "studio.core.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "studio.urls"
ASGI_APPLICATION = "studio.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "studio.core.context_processors.studio",
            ],
        },
    },
]

DATABASE_URL = env_url("DATABASE_URL")
# Channels closes "old" connections around every consumer event; with 0 that reopened the database (and
# re-ran SQLite's PRAGMAs) for every streamed bubble and flush, a third of the database thread at 100 sessions.
CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 300, minimum=0)
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "studio.sqlite3",
            "CONN_MAX_AGE": CONN_MAX_AGE,
            "CONN_HEALTH_CHECKS": True,
            # WAL lets the web process read while a worker thread writes.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

REDIS_URL = env_url("REDIS_URL")
CACHE_KEY_PREFIX = "studio-cache"
if REDIS_URL:
    # Pub/sub: a group send is one PUBLISH, and each process reads every event its sockets need from one
    # subscription. The list-based RedisChannelLayer costs four round trips per message to receive, which
    # capped a process far below a hundred streaming sessions (PERFORMANCE.md). What pub/sub does not keep
    # (an event for a socket that is reconnecting) the consumer's snapshot and offsets recover.
    # socket_timeout: redis-py 8 gives up on a reply after 5 s; a publish behind a busy Redis may wait longer.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}]},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "studio.core.layers.LoopSafeInMemoryChannelLayer", "CONFIG": {"capacity": 1500}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "studio"}}

# Generation jobs: in this process's thread pool (off the event loop) without Redis; otherwise Celery
# workers on Redis carry them.
GENERATION_JOBS_IN_PROCESS = env_bool("GENERATION_JOBS_IN_PROCESS", not REDIS_URL)
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# In-process jobs run the Celery task directly (apply), so its retries and limits are the same code.
CELERY_TASK_ALWAYS_EAGER = GENERATION_JOBS_IN_PROCESS
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "studio"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "specialists:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
# Media is never served from a public folder: generations.views checks ownership.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media"))).resolve()
# Django chmods stored files to 0644 by default, whatever the umask: media stays the studio's own.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
MEDIA_URL = "/media/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Only the studio's own scripts and styles, no inline script or style, nothing framed or posted elsewhere.
# Live previews arrive as data: images; the websocket is 'self' (CSP 3 matches ws: and wss: to it).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "media-src": [SELF],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_REFERRER_POLICY = "same-origin"

# Served over HTTPS (directly or behind a TLS-terminating proxy): cookies only travel encrypted and
# browsers are told to come back over HTTPS only.
STUDIO_HTTPS = env_bool("STUDIO_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = STUDIO_HTTPS
SECURE_SSL_REDIRECT = env_bool("STUDIO_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("STUDIO_HSTS_SECONDS", 31_536_000 if STUDIO_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("STUDIO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("STUDIO_HSTS_PRELOAD", False)
# The header a TLS-terminating proxy sets, e.g. X-Forwarded-Proto: only trusted when named here, because
# a client can send it too. Requests that carry it are never signed in automatically (proxy headers).
SECURE_PROXY_SSL_HEADER = env_proxy_ssl_header("STUDIO_PROXY_SSL_HEADER")

# Engines.
OLLAMA_URL = env_url("OLLAMA_URL", "http://127.0.0.1:11434")
OPENAI_BASE_URL = env_url("OPENAI_BASE_URL")  # e.g. http://127.0.0.1:8080/v1 (llama.cpp, LM Studio, vLLM)
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
LLM_DEFAULT_MODEL = env_str("LLM_DEFAULT_MODEL", "llama3.2")
# auto: Ollama if it answers, else the OpenAI-compatible server if set, else the embedded model.
LLM_BACKEND = env_str("LLM_BACKEND", "auto")
LLM_EMBEDDED_ENABLED = env_bool("LLM_EMBEDDED_ENABLED", True)
LLM_CONNECT_TIMEOUT = env_float("LLM_CONNECT_TIMEOUT", 3.0, minimum=0.1)
# A reply may wait long to start (queued behind others, a model loading) but not pause long once started.
LLM_FIRST_TOKEN_TIMEOUT = env_float("LLM_FIRST_TOKEN_TIMEOUT", 600.0, minimum=1.0)
LLM_READ_TIMEOUT = env_float("LLM_READ_TIMEOUT", 60.0, minimum=1.0)
LLM_MAX_TOKENS = env_int("LLM_MAX_TOKENS", 400, minimum=16, maximum=8192)
# Specialists that may speak independently run concurrently when the engine allows it.
STUDIO_CONCURRENT_ROUNDS = env_bool("STUDIO_CONCURRENT_ROUNDS", False)
# Before the first ideas, one specialist asks the artist about a decision the idea leaves open (a session
# setting; this is its default).
STUDIO_CLARIFY = env_bool("STUDIO_CLARIFY", True)

COMFYUI_URLS = [url.rstrip("/") for url in env_list("COMFYUI_URLS", ["http://127.0.0.1:8188"])]
# ComfyUI servers that share a GPU with the language model: "auto" (those on the LLM engine's host), "all",
# "none", or a comma-separated list of their URLs. The studio hands the GPU back and forth between them.
COMFYUI_SHARES_GPU = env_str("COMFYUI_SHARES_GPU", "auto")
COMFYUI_TIMEOUT = env_float("COMFYUI_TIMEOUT", 10.0, minimum=0.1)
# How long a job waits, keeping its place, for a ComfyUI that stopped answering (a restart) before it fails.
COMFYUI_RESTART_WINDOW = env_float("COMFYUI_RESTART_WINDOW", 120.0, minimum=0.0)
GENERATION_TIME_LIMIT = env_int("GENERATION_TIME_LIMIT", 1800, minimum=5)
GENERATION_MAX_RETRIES = env_int("GENERATION_MAX_RETRIES", 3, minimum=0, maximum=20)

# Input limits.
MESSAGE_MAX_CHARS = env_int("MESSAGE_MAX_CHARS", 4000, minimum=1)
# Everything an artist changes in one session (messages, phase moves, generate, cancel...) per minute.
ACTION_RATE_LIMIT = env_int("ACTION_RATE_LIMIT", 30, minimum=1)
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
WORKFLOW_UPLOAD_MAX_BYTES = env_int("WORKFLOW_UPLOAD_MAX_BYTES", 1_000_000, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2_621_440, WORKFLOW_UPLOAD_MAX_BYTES + 65536)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}
