# Threadline container image (first version; issue #6 hardens it: HTTP health endpoints, compose file).
# The base is a build argument so that CI can build from a local Debian image without a registry.
ARG BASE=python:3.12-slim

FROM ${BASE} AS build
WORKDIR /src
RUN python3 -m venv /opt/threadline
COPY pyproject.toml README.md ./
COPY threadline ./threadline
RUN /opt/threadline/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM ${BASE}
# Non-root user; SQLite data and config live on a volume.
RUN useradd --system --create-home --home-dir /home/threadline --shell /usr/sbin/nologin threadline \
    && mkdir -p /data && chown threadline /data
COPY --from=build /opt/threadline /opt/threadline
ENV PATH=/opt/threadline/bin:$PATH \
    THREADLINE_CONFIG=/config/threadline.yaml \
    PYTHONUNBUFFERED=1
USER threadline
WORKDIR /data
VOLUME ["/data"]
# The store must be reachable and migrated for the process to be useful.
HEALTHCHECK --interval=60s --timeout=20s --start-period=30s CMD ["threadline", "status"]
ENTRYPOINT ["threadline"]
CMD ["run"]
