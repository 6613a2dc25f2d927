# The maytrain sidecar image: `maytrain serve` as a non-root user (UID 65532).
#
#   docker build -t maytrain:0.1.0 .
#   docker run --rm maytrain:0.1.0 serve --help
#
# Stage 1 installs the two distributions from this repository into a virtualenv;
# stage 2 copies only that virtualenv onto a clean base, so no build leftovers ship.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/maytrain
WORKDIR /src
COPY . .
# maytrain depends on maytrain-client (clients/python): install both from the tree in one
# resolve (psycopg, the PostgreSQL driver, is a dependency of maytrain; nats-py, for the
# relay and sidecars that follow it, is the nats extra).
# No pyarrow (about 170 MB installed): in this image `maytrain purge-plan` reads JSON Lines
# manifests (line by line) and refuses Parquet ones, saying pyarrow is needed. An image for
# planning Parquet manifests, and faster plans: --build-arg EXTRA_PACKAGES=pyarrow
ARG EXTRA_PACKAGES=""
RUN /opt/maytrain/bin/pip install ./clients/python ".[nats]" ${EXTRA_PACKAGES}

FROM ${PYTHON_IMAGE}
# The OCI annotations. The repository address is the project's placeholder (the one the
# protos' go_package and the distributions' Project-URLs use). A build names its release
# and commit: --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD)
# --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ).
ARG VERSION=0.1.0
ARG REVISION=""
ARG CREATED=""
LABEL org.opencontainers.image.title="maytrain" \
      org.opencontainers.image.description="Consent-enforcement gRPC sidecar for ML ingestion workers" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/maytrain/maytrain" \
      org.opencontainers.image.url="https://github.com/maytrain/maytrain" \
      org.opencontainers.image.documentation="https://github.com/maytrain/maytrain/blob/main/README.md"
# A numeric user, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
RUN groupadd --system --gid 65532 maytrain \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin maytrain \
 && mkdir -p /var/lib/maytrain /var/cache/maytrain /var/run/maytrain \
 && chown 65532:65532 /var/lib/maytrain /var/cache/maytrain /var/run/maytrain
COPY --from=build /opt/maytrain /opt/maytrain
# The root filesystem is read-only in the chart: never try to write bytecode at run time.
ENV PATH=/opt/maytrain/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
WORKDIR /var/lib/maytrain
# No HEALTHCHECK, on purpose. Kubernetes ignores it, and the chart's probes ask the
# sidecar's grpc.health.v1 service natively (readiness: maytrain.v1.ConsentCheckService;
# liveness: "liveness"). A HEALTHCHECK would only add a Python process every interval.
# Under plain Docker, ask for one with the run:
#   docker run --health-cmd 'maytrain status --target 127.0.0.1:50051' ...
# (`maytrain status` exits 0 when the sidecar serves and 1 when its cache cannot answer).
ENTRYPOINT ["maytrain"]
CMD ["serve"]
