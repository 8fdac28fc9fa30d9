# One image for every tier: `docker compose` runs it as ingest, engine or query.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Dev dependencies include vite, which builds the dashboard below.
# npm install, not npm ci: see .ci/run (the lockfile cannot list every platform package).
RUN npm install --no-audit --no-fund
COPY . .
RUN npm run build:ui
EXPOSE 8080
# stdin is closed by compose; chDB is not loaded at all when CLICKHOUSE_URL is set.
ENTRYPOINT ["node", "bin/tidemark.mjs"]
CMD ["start"]
