# digest: the daemon by default; any other command works too (`docker run IMAGE send --dry-run`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DIGEST_STORE_URL=sqlite:////data/digest.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir '.[postgres]' \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin digest \
 && mkdir -p /data && chown digest /data
COPY config.toml ./config.toml

USER digest
VOLUME ["/data"]
# Secrets come from the environment at run time: DIGEST_SECRET_KEY, DIGEST_SMTP_PASSWORD.
ENTRYPOINT ["digest"]
CMD ["run"]
