# The image fly.toml deploys: the bot serving Slack over HTTP on $PORT.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot bot
COPY tools tools
COPY prompts prompts
RUN pip install --no-cache-dir .
ENV PORT=3000 OOS_DB=/data/triage.db
EXPOSE 3000
# The stack config lives on the volume (or set OOS_CONFIG); secrets come from `fly secrets`.
CMD ["sh", "-c", "exec oos serve --config \"${OOS_CONFIG:-/data/stack.toml}\""]
