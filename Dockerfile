# digest: the daemon by default; any other command works too (`docker run IMAGE send --dry-run`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DIGEST_STORE_URL=sqlite:////data/digest.db

WORKDIR /app
# The dependencies from the lock, every one pinned and checked against its hash (a layer that changes only with it)
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
# Then digest itself, without resolving anything again
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps . \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin digest \
 && mkdir -p /data /import && chown digest /data
# The example configuration: its [sender] is an example; set DIGEST_SENDER_* at run time (README, "Docker")
COPY config.toml ./config.toml

USER digest
VOLUME ["/data"]
# Secrets come from the environment at run time: DIGEST_SECRET_KEY, DIGEST_SMTP_PASSWORD.
ENTRYPOINT ["digest"]
CMD ["run"]
