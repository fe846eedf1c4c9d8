# syntax=docker/dockerfile:1.7
# mailferry: one image, four services -- `docker run IMAGE service intake|extractor|loader|tracker`.
#
# builder: compiles wheels for mailferry and every runtime dependency at the versions pinned in
#          constraints.txt, including libpff-python (PST reading), which has no binary wheel.
# runtime: the slim base plus those wheels, installed with --no-deps (nothing is resolved or
#          downloaded at this stage), run as uid 10001 on a read-only root file system.
# Base pinned by tag (Python 3.11 on Debian 12); the release pipeline may pin it by digest too.
# BASE is only overridden where that registry cannot be reached: `make image` then passes a Debian 12
# base made with mmdebstrap (scripts/image-base.sh); a release build leaves it alone.
# checkov:skip=CKV_DOCKER_7:FROM ${BASE} is python:3.11-slim-bookworm, a version tag (deploy/k8s/checkov-skips.md)
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS builder
# Packages the builder needs beyond the compiler: none with the python image, which carries Python's
# headers; python3-dev with a Debian base, whose python3 comes without them.
ARG BUILDER_PACKAGES=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config zlib1g-dev ${BUILDER_PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY constraints.txt ./
# libpff-python must be pinned like everything else; fail early and clearly if it is not.
RUN grep -Eiq '^libpff[-_]python==' constraints.txt \
 || { echo "constraints.txt must pin libpff-python (libpff-python==<version>)" >&2; exit 1; }
COPY pyproject.toml README.md ./
COPY mailferry ./mailferry
COPY services ./services
COPY shared ./shared
# Resolves the runtime dependency tree of mailferry (not the test extras) under the pins of
# constraints.txt and builds a wheel for each: binary wheels are reused, sdists are compiled.
# libpff-python is always compiled here (--no-binary), so every architecture gets the same build.
# A build whose pip must use another index or trust another certificate (a mirror, a TLS-inspecting
# proxy) passes a pip.conf and a CA bundle as secrets (`--secret id=pip.conf,src=...`,
# `--secret id=pip-ca,src=...`; the pip.conf names /run/secrets/pip-ca): mounted for this step only,
# in no layer. Without them pip uses its defaults.
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf \
    --mount=type=secret,id=pip-ca,target=/run/secrets/pip-ca \
    pip wheel --wheel-dir /wheels --constraint constraints.txt --no-binary libpff-python . libpff-python


FROM ${BASE} AS runtime
LABEL org.opencontainers.image.source="https://github.com/mailferry/mailferry" \
      org.opencontainers.image.title="mailferry" \
      org.opencontainers.image.description="Mail migration service: intake, extractor, loader, tracker" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    MAILFERRY_STATE_DIR=/var/lib/mailferry \
    MAILFERRY_SPOOL_DIR=/var/spool/mailferry \
    MAILFERRY_BIND_HOST=0.0.0.0
# tini: PID 1 that forwards SIGTERM to the service (graceful drain) and reaps children.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 mailferry \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin mailferry \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/mailferry /var/spool/mailferry
COPY constraints.txt /tmp/constraints.txt
# --no-deps --no-index: exactly the wheels built above (pip check proves the set is complete);
# bytecode is compiled now because the root file system is read-only at run time.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-deps --no-index --constraint /tmp/constraints.txt /wheels/*.whl \
 && pip check \
 && python -c "import pypff, confluent_kafka" \
 && command -v mailferry \
 && rm /tmp/constraints.txt
COPY deploy/docker/healthcheck.py /usr/local/lib/mailferry/healthcheck.py

USER 10001:10001
WORKDIR /var/lib/mailferry
EXPOSE 8080 9100
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/usr/local/lib/mailferry/healthcheck.py"]
ENTRYPOINT ["/usr/bin/tini", "--", "mailferry"]
CMD ["service", "intake"]
