# The controller image. (Not built by the test suite: the machines this project is developed on
# have no container engine. `dbjobs run` outside a cluster is what the tests exercise.)
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY controller ./controller
RUN pip install --no-cache-dir . && useradd --uid 65532 --no-create-home dbjobs
USER 65532
ENTRYPOINT ["dbjobs"]
