# The web client is bundled with the dev dependencies, then left behind with them.
FROM node:20-bookworm-slim AS web
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY web ./web
RUN npm run build:web

FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY --from=web /app/dist/web ./dist/web
ENV NODE_ENV=production PORT=3000
EXPOSE 3000
USER node
CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "src/main.ts"]
