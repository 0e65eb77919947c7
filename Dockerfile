# The modelhealth image used by docker-compose.yml (pinot init, rules scheduler, dashboard).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY modelhealth ./modelhealth
COPY examples ./examples
RUN pip install --no-cache-dir '.[kafka,pinot]'
ENTRYPOINT []
CMD ["modelhealth", "--help"]
