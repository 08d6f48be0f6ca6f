# Papelera: build the dependencies once, ship them in a slim image that runs as non-root.

FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

COPY pyproject.toml ./
COPY app/ app/

# Wheels for the project and every dependency; install the dependencies only. The app
# runs from its source in /app, where it finds templates/, static/ and migrations/
# beside the package.
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
    && rm /wheels/papelera-*.whl \
    && pip install --no-cache-dir --no-index --no-deps /wheels/*.whl \
    && rm -rf /wheels

# The compiled catalogues (.mo) are built, never committed: Babel came with Flask-Babel.
COPY translations/ translations/
RUN pybabel compile -d translations


FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLASK_APP=app \
    PAPELERA_INSTANCE=/data \
    HOST=0.0.0.0 \
    PORT=8000

RUN groupadd --system --gid 10001 papelera \
    && useradd --system --uid 10001 --gid papelera --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin papelera \
    && mkdir -p /data \
    && chown papelera:papelera /data

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
COPY pyproject.toml gunicorn.conf.py ./
COPY app/ app/
COPY templates/ templates/
COPY --from=builder /src/translations/ translations/
COPY static/ static/
COPY migrations/ migrations/
COPY docker/entrypoint.sh /usr/local/bin/papelera-entrypoint

# papelera (numeric, so hosts and Kubernetes can check it is not root)
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["/bin/sh", "/usr/local/bin/papelera-entrypoint"]
# gunicorn.conf.py: HOST:PORT; one worker with threads, or WEB_CONCURRENCY workers
# (default two per core) when REDIS_URL is set, as `make run` does.
CMD ["gunicorn", "--config", "gunicorn.conf.py"]
