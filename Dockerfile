# dhan-token-keeper image. The build recipe is scripts/build-release.sh, which CI also runs
# outside Docker, so the image ships what CI tested. README "Running under Docker" shows how to
# run it; deploy/docker-compose.yml runs it beside a bot, Prometheus and Grafana.
#
#   docker build -t dhan-token-keeper .
#
# It builds with BuildKit and with the legacy builder alike (no `# syntax=` line to fetch, no
# RUN --mount), and downloads nothing but npm packages: the build stage's image brings the
# compiler that better-sqlite3 needs. Without a registry, scripts/build-base-image.sh makes both
# base images from Debian's and npm's packages (pass them with --build-arg). Few instructions:
# the legacy builder copies the whole image for each one on the vfs storage driver.

# The Node the image ships; .node-version holds the same value, and a test keeps them equal.
ARG NODE_VERSION=24.22.3
# The runtime's base: Node on a minimal Debian.
ARG NODE_IMAGE=node:${NODE_VERSION}-bookworm-slim
# The build stage's base: the same Node with python3, make, g++ and Node's headers.
ARG BUILD_IMAGE=node:${NODE_VERSION}-bookworm

FROM ${BUILD_IMAGE} AS build
ARG NODE_VERSION
# .dockerignore lets through only what scripts/build-release.sh reads.
COPY . /src
# node-gyp compiles better-sqlite3 against this Node's own headers (nodedir), and from source,
# so that neither headers nor a prebuilt binary are downloaded.
RUN test "$(node --version)" = "v${NODE_VERSION}" \
 || { echo "BUILD_IMAGE has Node $(node --version), not ${NODE_VERSION}" >&2; exit 1; } \
 && cd /src \
 && npm_config_nodedir=/usr/local npm_config_build_from_source=true npm_config_update_notifier=false \
    scripts/build-release.sh /release \
 && rm -rf /src /root/.npm

FROM ${NODE_IMAGE} AS runtime
ARG NODE_VERSION
# MALLOC_TRIM_THRESHOLD_: glibc's trim threshold fixed at 128 KB instead of rising with every
# large block freed, so what a start-up frees goes back to the system. MALLOC_ARENA_MAX: two
# malloc arenas instead of one for each thread that ever allocated. Only the environment can
# set them.
ENV NODE_ENV=production \
    DHAN_TOKEN_KEEPER_CONFIG=/config/config.yaml \
    TMPDIR=/data/tmp \
    MALLOC_TRIM_THRESHOLD_=131072 \
    MALLOC_ARENA_MAX=2
COPY --from=build --chown=root:root /release /app
# The root filesystem may be read-only (docker run --read-only, compose read_only: true):
# everything the keeper writes lives in /data: the database, the token files (tokens/) and
# temporary files. TMPDIR points SQLite's and Node's temporary files there too; when /data
# is a bind mount, create tmp/ in it, or mount a tmpfs on /tmp and set TMPDIR=/tmp.
# A new named volume copies these folders, with their owner, from the image.
# The SQLite addon was compiled for the build stage's Node: it must load with this one. The CLI
# is on PATH for `docker exec CONTAINER dhan-token-keeper status` and the other runbook commands.
RUN test "$(node --version)" = "v${NODE_VERSION}" \
 || { echo "NODE_IMAGE has Node $(node --version), not ${NODE_VERSION}" >&2; exit 1; } \
 && node -e "new (require('/app/node_modules/better-sqlite3'))(':memory:').close()" \
 && chmod 0755 /app/dist/cli.js \
 && ln -s /app/dist/cli.js /usr/local/bin/dhan-token-keeper \
 && mkdir -p /data/tokens /data/tmp /config \
 && chown -R node:node /data \
 && chmod 0750 /data /data/tokens \
 && chmod 0700 /data/tmp
WORKDIR /app
USER node
VOLUME /data
EXPOSE 9470
# Healthy while bots can get every account's token from it (/readyz); slim images have no curl,
# so the CLI asks. Docker and compose only report it: see the README before letting a
# supervisor restart the keeper on it.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["node", "dist/cli.js", "healthcheck", "--ready", "--config", "/config/config.yaml"]
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["run", "--config", "/config/config.yaml"]
