# syntax=docker/dockerfile:1
# opsgov production image: gunicorn serves the web app; the same image runs the
# Celery worker and beat (see docker-compose.yml). Build: docker build -t opsgov .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=opsgov.settings \
    OPSGOV_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles \
    PROMETHEUS_MULTIPROC_DIR=/tmp/opsgov-prometheus \
    PORT=8000

WORKDIR /app

RUN groupadd --system --gid 10001 opsgov \
    && useradd --system --uid 10001 --gid opsgov --home-dir /app --no-create-home --shell /usr/sbin/nologin opsgov

# Runtime dependencies only (no dev tools), at the versions pinned in constraints.txt.
# A layer of its own, rebuilt only when pyproject.toml or constraints.txt change.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The application runs from its source folder (settings find templates/ and static/ beside manage.py).
COPY . .

# Static files, compressed and hashed for whitenoise. Dummy values: settings insist on
# them with DEBUG off, and nothing here connects to a database or a broker.
RUN DEBUG=false SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
        DATABASE_URL=postgresql://build@localhost/build CELERY_BROKER_URL=redis://localhost:6379/0 \
        python manage.py collectstatic --noinput \
    && mkdir -p /app/var \
    && chown opsgov:opsgov /app/var

USER opsgov
EXPOSE 8000
CMD ["gunicorn", "--config", "gunicorn.conf.py", "opsgov.wsgi"]
