# syntax=docker/dockerfile:1
# dhan-token-keeper image. The build recipe is scripts/build-release.sh, which CI also runs
# (no Docker engine there), so the image ships exactly what CI tested.
#
#   docker build -t dhan-token-keeper .
#   docker run -d --read-only -v dhan-keeper-data:/data -v "$PWD/config.yaml:/config/config.yaml:ro" \
#     -p 127.0.0.1:9470:9470 dhan-token-keeper
# deploy/docker-compose.yml runs it beside a bot, Prometheus and Grafana.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
# better-sqlite3 compiles from source when no prebuilt binary can be fetched; node-gyp takes
# the headers of this Node (nodedir) instead of downloading them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local \
    npm_config_update_notifier=false
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/build-release.sh ./scripts/
RUN --mount=type=cache,target=/root/.npm scripts/build-release.sh /release

FROM ${NODE_IMAGE} AS runtime
# MALLOC_TRIM_THRESHOLD_: glibc's trim threshold fixed at 128 KB instead of rising with every
# large block freed, so what a start-up frees goes back to the system. MALLOC_ARENA_MAX: two
# malloc arenas instead of one kept for each thread that ever allocated (V8's compiler and
# collector threads). 1,000 accounts from a cold start: 85 MB of RSS instead of 94; only the
# environment can set them.
ENV NODE_ENV=production \
    DHAN_TOKEN_KEEPER_CONFIG=/config/config.yaml \
    TMPDIR=/data/tmp \
    MALLOC_TRIM_THRESHOLD_=131072 \
    MALLOC_ARENA_MAX=2
# The root filesystem may be read-only (docker run --read-only, compose read_only: true):
# everything the keeper writes lives in /data: the database, the token files (tokens/) and
# temporary files. TMPDIR points SQLite's and Node's temporary files there too; when /data
# is a bind mount, create tmp/ in it, or mount a tmpfs on /tmp and set TMPDIR=/tmp.
# A new named volume copies these folders, with their owner, from the image.
RUN mkdir -p /data/tokens /data/tmp /config \
 && chown -R node:node /data \
 && chmod 0750 /data /data/tokens \
 && chmod 0700 /data/tmp
WORKDIR /app
COPY --from=build --chown=root:root /release ./
USER node
VOLUME /data
EXPOSE 9470
# Slim images have no curl: the CLI itself asks /healthz.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["node", "dist/cli.js", "healthcheck", "--config", "/config/config.yaml"]
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["run", "--config", "/config/config.yaml"]
