# Sealdog server: multi-stage build, slim runtime, non-root user, health check.
# No BuildKit "syntax" directive: it makes BuildKit fetch a frontend from Docker Hub; this builds
# with the built-in frontend and with the legacy builder alike.
# PYTHON_IMAGE: any Debian bookworm image with Python 3.11, venv and pip (python3 on PATH);
# the default is the official slim image, .ci/docker-smoke.sh builds a local stand-in.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libgmp-dev libmpfr-dev libmpc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python3 -m venv /opt/sealdog \
 && /opt/sealdog/bin/pip install --upgrade pip wheel \
 && /opt/sealdog/bin/pip install .

FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgmp10 libmpfr6 libmpc3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sealdog \
 && useradd --system --uid 10001 --gid sealdog --home-dir /data --shell /usr/sbin/nologin sealdog \
 && mkdir -p /data && chown sealdog:sealdog /data
COPY --from=build /opt/sealdog /opt/sealdog
ENV PATH=/opt/sealdog/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SEALDOG_DATA_DIR=/data \
    SEALDOG_HOST=0.0.0.0 \
    SEALDOG_PORT=8000 \
    SEALDOG_WORKERS=2
USER sealdog
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"SEALDOG_PORT\", \"8000\")}/healthz', timeout=4)"]
ENTRYPOINT ["sealdog"]
CMD ["server", "run"]
