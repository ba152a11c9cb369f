# Production image: non-root, ASGI with uvicorn, static files collected at build time.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system relove && useradd --system --gid relove --home-dir /app --shell /usr/sbin/nologin relove
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=relove:relove . .
# collectstatic needs settings but no real secrets: throwaway values for this step only.
RUN DATABASE_URL=postgres://build@localhost/build SECRET_KEY=build-only \
    FIELD_ENCRYPTION_KEY=$(python -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())') \
    python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var && chown -R relove:relove /app/var

USER relove
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz?scope=web').status != 200)"
CMD ["uvicorn", "relove.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--proxy-headers"]
