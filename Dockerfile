# Jiaoying service image: `jiaoying serve` (the API, and the scheduler unless JIAOYING_SCHEDULER=off),
# `jiaoying worker`, `jiaoying migrate`, or the gateway simulator, from one image.
FROM python:3.11-slim
WORKDIR /srv/jiaoying
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --system jiaoying && mkdir -p /var/lib/jiaoying \
    && chown jiaoying /var/lib/jiaoying
USER jiaoying
# Chain heads published outside the database go here; mount it where the database's writers cannot rewrite it.
ENV JIAOYING_AUDIT_ANCHOR_FILE=/var/lib/jiaoying/anchors.jsonl
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["jiaoying", "serve", "--host", "0.0.0.0", "--port", "8000"]
