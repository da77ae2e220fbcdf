# The matcher's C part (bot/core/_scan.c) is compiled in the full image, which has a compiler; the slim
# image installs the wheel built there (without a compiler it would fall back to the slower Python code).
FROM python:3.11 AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY bot ./bot
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY bot ./bot
COPY seeds ./seeds
COPY feeds ./feeds
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels && useradd --create-home wirewatch
USER wirewatch
ENTRYPOINT ["wirewatch"]
CMD ["run"]
