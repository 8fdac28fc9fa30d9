# One image for every tier: `docker compose` runs it as ingest, engine or query,
# and with no command it runs them all (`start`, the embedded default).
#
# Two stages. `build` installs every dependency, dev ones included (vite builds
# the dashboard), builds ui/dist, then prunes the dev dependencies. `runtime`
# copies only what runs: production dependencies, the sources tsx runs, and
# ui/dist. NODE_ENV=production is set there alone: set before `npm install`, it
# made npm skip the dev dependencies and the dashboard build failed without vite.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm install, not npm ci: see .ci/run (the lockfile cannot list every platform package).
# --include=dev: even when the builder's environment says NODE_ENV=production.
RUN npm install --no-save --no-audit --no-fund --include=dev
COPY . .
RUN npm run build:ui
RUN npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
# `start` supervises a nats-server child when NATS_URL is unset (Debian's is 2.9.10, the version measured).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nats-server \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json /app/package-lock.json /app/tsconfig.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/cli ./cli
COPY --from=build /app/engine ./engine
COPY --from=build /app/ingest ./ingest
COPY --from=build /app/query ./query
COPY --from=build /app/ui/dist ./ui/dist
# The data directory (admin token, supervised NATS store, chDB) belongs to the unprivileged user.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8080
# Every role serves GET /api/v2/health: 200 when what it uses answers, 503 otherwise.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/api/v2/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# stdin is closed by compose; chDB is not loaded at all when CLICKHOUSE_URL is set.
ENTRYPOINT ["node", "bin/tidemark.mjs"]
CMD ["start"]
