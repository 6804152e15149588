# The image fly.toml deploys: `oos serve --config` over HTTP on $PORT, the store and the stack
# config on the volume at /data. Dependencies install from requirements.lock (pip-compile, with
# hashes) so every build gets the same packages; regenerate it after changing pyproject.toml:
#   pip-compile --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
#       --output-file requirements.lock pyproject.toml
FROM python:3.11-slim AS build
RUN python -m venv /opt/oos
COPY requirements.lock /tmp/requirements.lock
RUN /opt/oos/bin/pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY tools tools
RUN /opt/oos/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11-slim
COPY --from=build /opt/oos /opt/oos
COPY deploy/entrypoint.sh /usr/local/bin/oos-entrypoint
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home oos \
    && mkdir -p /data && chown oos:oos /data && chmod 0755 /usr/local/bin/oos-entrypoint
ENV PATH=/opt/oos/bin:$PATH PORT=3000 OOS_DB=/data/triage.db PYTHONUNBUFFERED=1
WORKDIR /data
EXPOSE 3000
# Liveness: /healthz answers while the server runs.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
# The entrypoint starts as root only to hand a freshly mounted volume (root-owned on Fly) to the
# `oos` user, then runs the server as that user; `docker run --user 10001` skips that step.
ENTRYPOINT ["oos-entrypoint"]
CMD ["sh", "-c", "exec oos serve --config \"${OOS_CONFIG:-/data/stack.toml}\""]
