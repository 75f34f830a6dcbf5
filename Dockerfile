# syntax=docker/dockerfile:1
# runwright: one image for the API and the worker (`runwright serve --role api|worker|all`).
# Stage 1 compiles TypeScript and keeps production dependencies only; stage 2 is the runtime: Node 20, git (runs
# clone, commit, push and build from worktrees), Python 3 with SQLAlchemy (the models' check and python/ helpers run
# as subprocesses), tini as PID 1, and a non-root user.

ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client tini bubblewrap \
      python3 python3-sqlalchemy python3-alembic python3-psycopg2 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 runwright \
 && useradd --system --uid 10001 --gid runwright --home-dir /var/lib/runwright --create-home --shell /usr/sbin/nologin runwright \
 && install -d -o runwright -g runwright /var/lib/runwright/work /var/lib/runwright/platform
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY python ./python
COPY runbooks ./runbooks
RUN chmod 0755 bin/runwright.js && ln -s /app/bin/runwright.js /usr/local/bin/runwright
ENV NODE_ENV=production \
    PORT=8080 \
    RUNWRIGHT_WORKER_PORT=9091 \
    RUNWRIGHT_RUNBOOKS=/app/runbooks \
    RUNWRIGHT_WORKDIR=/var/lib/runwright/work \
    RUNWRIGHT_LOCAL_PLATFORM_DIR=/var/lib/runwright/platform \
    GIT_TERMINAL_PROMPT=0
USER 10001:10001
# 8080: the HTTP API (--role api|all); 9091: `--role worker`'s /healthz, /readyz and /metrics (node:http, no API).
EXPOSE 8080 9091
# Whichever of the two this role serves answers /healthz (no curl in the image: Node's fetch).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "Promise.any([process.env.PORT, process.env.RUNWRIGHT_WORKER_PORT].map((p) => fetch(`http://127.0.0.1:${p}/healthz`).then((r) => { if (!r.ok) throw new Error(String(r.status)); }))).then(() => process.exit(0), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "runwright", "serve"]
CMD ["--role", "all"]
