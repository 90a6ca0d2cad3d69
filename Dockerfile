# The Mutator worker image. `docker-compose.yml` builds it for the `mutator-migrate` and
# `mutator-worker` services; see docs/operations.md.
#
#   docker build -t mutator:local .
#   docker run --rm -e MUTATOR_DATABASE_URL=postgresql+psycopg://... \
#       -e TEMPORAL_ADDRESS=temporal:7233 mutator:local
#
# The same image runs every `mutator` command, e.g. `mutator db upgrade` or `mutator list`.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the project (no dev or test extras) from a throw-away source directory.
WORKDIR /src
# mutator/workflows and mutator/activities are symlinks to the top-level folders: copy both.
COPY pyproject.toml README.md ./
COPY mutator ./mutator
COPY workflows ./workflows
COPY activities ./activities
RUN pip install . \
    && rm -rf /src

# An unprivileged user. /app is its working directory: `--app pkg.module:attr` imports from
# the working directory, so a derived image can `COPY mypkg /app/mypkg`.
RUN groupadd --system --gid 10001 mutator \
    && useradd --system --uid 10001 --gid mutator --home-dir /app --create-home \
        --shell /usr/sbin/nologin mutator
WORKDIR /app
USER mutator:mutator

# Settings the `mutator` command reads (flags take precedence). MUTATOR_DATABASE_URL has no
# default here on purpose: without it the worker would use a SQLite file inside the
# container. Set it to the store, e.g. postgresql+psycopg://mutator:secret@postgresql:5432/mutator
ENV TEMPORAL_ADDRESS=temporal:7233 \
    TEMPORAL_NAMESPACE=default \
    MUTATOR_APP=mutator.example_app:app \
    MUTATOR_TASK_QUEUE=mutator \
    MUTATOR_MAX_CONCURRENT_MUTATIONS=10

# SIGTERM (docker stop) stops the worker cleanly; the worker exits 2 with a message when the
# store's schema is behind (run `mutator db upgrade`), the app cannot be imported, or
# Temporal cannot be reached.
STOPSIGNAL SIGTERM
CMD ["mutator", "worker"]
