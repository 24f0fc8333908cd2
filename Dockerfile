# Jiaoying service image: the API (and, unless JIAOYING_SCHEDULER=off, the scheduler) on uvicorn.
FROM python:3.11-slim
WORKDIR /srv/jiaoying
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --system jiaoying
USER jiaoying
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
