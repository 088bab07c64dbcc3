# Creative Studio: one image for the web process (daphne) and the Celery worker.
# The built-in SmolLM2 fallback runs on llama.cpp's prebuilt server wheel (xllamacpp): nothing compiles.

FROM python:3.11-slim-bookworm AS build
COPY requirements.txt requirements-model.txt /tmp/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps -r /tmp/requirements-model.txt

FROM python:3.11-slim-bookworm
# libgomp1: llama.cpp's OpenMP runtime.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    VENV_PYTHON=/opt/venv/bin/python \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STUDIO_DATA_DIR=/data \
    MEDIA_ROOT=/data/media \
    STUDIO_HOST=0.0.0.0 \
    STUDIO_PORT=8000
WORKDIR /app
COPY . .
RUN useradd --system --uid 10001 --home-dir /app studio \
 && mkdir -p /data/media \
 && chown -R studio /data
USER studio
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=8).status != 200)"]
CMD ["sh", "-c", "python manage.py migrate --noinput && exec daphne -b \"$STUDIO_HOST\" -p \"$STUDIO_PORT\" studio.asgi:application"]
