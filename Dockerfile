# The modelhealth image used by docker-compose.yml (pinot init, rules scheduler, dashboard).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY modelhealth ./modelhealth
COPY examples ./examples
# libgomp1: LightGBM's OpenMP runtime, which the slim image lacks (learned-detector rules).
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir '.[kafka,pinot,learn]'
ENTRYPOINT []
CMD ["modelhealth", "--help"]
