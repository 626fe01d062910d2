# syntax=docker/dockerfile:1
# smsgw image: the gateway (`smsgw run`) and the SMSC simulator (`smsgw simulator`) share it.
# Stage 1 builds wheels for smsgw and its dependencies (uvloop, hiredis, orjson ship manylinux
# wheels, so no compiler is needed); stage 2 installs them on a clean slim base.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY common ./common
COPY gateway ./gateway
COPY routing ./routing
COPY compliance ./compliance
COPY simulator ./simulator
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SMSGW_HEALTHCHECK_URL=http://127.0.0.1:9100/healthz
RUN groupadd --system --gid 10001 smsgw \
    && useradd --system --uid 10001 --gid smsgw --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin smsgw
COPY --from=build /wheels /wheels
# Install, then fail the build if uvloop or the entry point is missing.
RUN pip install --no-index --find-links=/wheels smsgw \
    && rm -rf /wheels \
    && python -c "import uvloop, common, gateway, routing, compliance, simulator" \
    && command -v smsgw
# Defaults baked in; docker-compose mounts ./config over this read-only. Relative config
# paths (compliance files under ./config) resolve from the working directory, so ./config
# there points at /etc/smsgw.
COPY config /etc/smsgw
RUN mkdir -p /srv/smsgw && ln -s /etc/smsgw /srv/smsgw/config
WORKDIR /srv/smsgw
USER smsgw:smsgw
# 9100: gateway ops (/metrics, /healthz, /readyz); 9200: simulator control + metrics;
# 2775: simulator SMPP.
EXPOSE 9100 9200 2775
# The slim image has no curl: the stdlib fetches the URL and any error exits non-zero.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['SMSGW_HEALTHCHECK_URL'], timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["smsgw"]
CMD ["run", "--config", "/etc/smsgw/smsgw.yaml"]
