FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY seeds ./seeds
COPY feeds ./feeds
RUN pip install --no-cache-dir . && useradd --create-home wirewatch
USER wirewatch
ENTRYPOINT ["wirewatch"]
CMD ["run"]
