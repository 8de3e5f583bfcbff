# The single-machine hub (`chorus serve`) as a container. State (SQLite store, queue file, blobs,
# lock) lives on the volume at /var/lib/chorus; connector files are mounted read-only at
# /etc/chorus/connectors; secrets come from the environment. See docs/local-hub.md.
# The two CHORUS_*_DIR variables point `docker compose exec chorus chorus ...` (dlq, people, crm
# setup) at the same state and connector files as the hub.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CHORUS_STATE_DIR=/var/lib/chorus \
    CHORUS_CONFIG_DIR=/etc/chorus/connectors

WORKDIR /opt/chorus
COPY requirements.txt requirements-local.txt ./
RUN pip install -r requirements-local.txt
COPY pyproject.toml app.py ./
COPY chalicelib ./chalicelib
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /var/lib/chorus chorus \
    && mkdir -p /var/lib/chorus /etc/chorus/connectors \
    && chown chorus:chorus /var/lib/chorus

USER chorus
# the file sink's relative path (.chorus/...) lands on the volume too
WORKDIR /var/lib/chorus
VOLUME ["/var/lib/chorus"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
ENTRYPOINT ["chorus"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--config-dir", "/etc/chorus/connectors", "--state-dir", "/var/lib/chorus"]
