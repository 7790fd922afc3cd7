# The HTTP service of one bundle. Build, then run with the bundle mounted at /bundle:
#   docker build -t practica .
#   docker run -p 8000:8000 -v "$PWD/runs/digits/<run-id>/bundle:/bundle:ro" practica
# Options after the image name go to `practica serve` (e.g. --workers 2 --api-key ...; or -e PRACTICA_API_KEY=...).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# torch first, from the CPU index: the default index would pull the multi-GB CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && useradd --create-home --uid 10001 practica

USER practica
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/v1/health', timeout=4).status != 200)"]
ENTRYPOINT ["practica", "serve", "/bundle", "--host", "0.0.0.0"]
