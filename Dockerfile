# One image for the API (`tribe serve`) and the Faust workers (`tribe worker`); see docker-compose.yml.
# It installs the package with the README's command, `pip install -e .`, so the container runs
# exactly what a developer runs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRIBE_DATA_DIR=/data

RUN useradd --create-home --uid 1000 tribe \
    && mkdir -p /data \
    && chown tribe:tribe /data

WORKDIR /app
COPY . /app
RUN pip install -e .

USER tribe
EXPOSE 8080
CMD ["tribe", "serve", "--host", "0.0.0.0"]
