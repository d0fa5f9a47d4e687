# Threadline: the daemon (`threadline run`) in a slim image. Config is mounted at /config, secrets come from
# env or files (${NAME} reads env NAME, else the file named by NAME_FILE), SQLite data lives on the /data volume.
# The base is a build argument so that CI can build from a local Debian image without a registry
# (scripts/image-build.sh); anything with python3 and its venv module works.
ARG BASE=python:3.12-slim

# ---- build: the only stage with pip. Every dependency ships wheels, so no compiler is needed; if one ever
# stops doing so, its build tools go here (apt-get install gcc ...) and never into the final stage.
FROM ${BASE} AS build
WORKDIR /src
RUN python3 -m venv /opt/threadline
# Dependencies first, from pyproject.toml alone: this layer is reused until the dependencies change.
COPY pyproject.toml ./
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && /opt/threadline/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements.txt
COPY README.md ./
COPY threadline ./threadline
# The package itself, then the installers: nothing at run time may install code. Of google-api-python-client's
# 110 MB of discovery documents only Gmail's is used (static discovery): the rest stays out of the image.
RUN /opt/threadline/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps . \
    && /opt/threadline/bin/pip uninstall --yes --disable-pip-version-check pip setuptools wheel \
    && find /opt/threadline -path '*/googleapiclient/discovery_cache/documents/*.json' ! -name gmail.v1.json -delete

# ---- final: the venv, a fixed non-root user, no pip, no compiler.
FROM ${BASE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="Threadline" \
      org.opencontainers.image.description="Self-hosted CRM connector: replies from reps' mailboxes land on CRM contact records" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
SHELL ["/bin/sh", "-eu", "-c"]
# The base's own pip goes too (python:3.12-slim has one); a fixed uid/gid lets volume owners and Kubernetes
# securityContext (runAsUser, fsGroup) match the image.
RUN if python3 -m pip --version >/dev/null 2>&1; then python3 -m pip uninstall --yes pip setuptools wheel; fi \
    && groupadd --gid 10001 threadline \
    && useradd --uid 10001 --gid 10001 --no-log-init --home-dir /data --no-create-home --shell /usr/sbin/nologin threadline \
    && mkdir -p /data /config \
    && chown 10001:10001 /data
# Root-owned code: the process can read it but never change it.
COPY --from=build /opt/threadline /opt/threadline
ENV PATH=/opt/threadline/bin:$PATH \
    THREADLINE_CONFIG=/config/threadline.yaml \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
# The default store (sqlite:///threadline.db) is relative, so it lands on the volume.
WORKDIR /data
VOLUME ["/data"]
# server.port: /healthz, /readyz, /metrics, webhooks, push, /events. Set server.host to 0.0.0.0 in the config.
EXPOSE 8080
# `threadline run` finishes the cycle in progress on SIGTERM, then exits; give it time (compose: 30 s).
STOPSIGNAL SIGTERM
# Liveness only (/healthz): a provider outage shows on /readyz and must not get the container restarted.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["threadline", "health"]
ENTRYPOINT ["threadline"]
CMD ["run"]
