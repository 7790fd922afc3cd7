# The HTTP service of one bundle, from the slim serving install: ONNX Runtime, no torch, no scikit-learn.
# Build, then run with the bundle mounted at /bundle:
#   docker build -t practica-serve .
#   docker run -p 8000:8000 -v "$PWD/runs/digits/<run-id>/bundle:/bundle:ro" practica-serve
# Options after the image name go to `practica serve` (e.g. --workers 2 --api-key ...; or -e PRACTICA_API_KEY=...).
# To bake a bundle in instead: FROM practica-serve, then COPY --chown=practica bundle/ /bundle/.

# Build stage: a virtual environment with practica and what serving needs, and nothing else.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/practica
WORKDIR /src
# The serve extra of pyproject.toml first (its own layer, kept while only the code changes); pip cannot
# subtract base dependencies with an extra, so practica itself goes in with --no-deps (docs/serving.md).
COPY pyproject.toml README.md ./
COPY deploy/serve_requirements.py deploy/
RUN python deploy/serve_requirements.py > /tmp/serve.txt \
 && /opt/practica/bin/pip install -r /tmp/serve.txt
COPY src ./src
RUN /opt/practica/bin/pip install --no-deps . \
 && /opt/practica/bin/pip uninstall -y pip setuptools

# Runtime stage: the base image, the environment, a user without privileges.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/practica/bin:$PATH
COPY --from=build /opt/practica /opt/practica
RUN useradd --create-home --uid 10001 practica
USER practica
WORKDIR /home/practica
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/v1/health', timeout=4).status != 200)"]
ENTRYPOINT ["practica", "serve", "/bundle", "--host", "0.0.0.0"]
