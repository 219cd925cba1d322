# The twin and ingest image (one project, console script `twin`).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY twin ./twin
COPY ingest ./ingest
RUN pip install --no-cache-dir . && useradd --system --no-create-home twin
USER twin
ENTRYPOINT []
CMD ["twin", "--help"]
