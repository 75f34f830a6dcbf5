#!/usr/bin/env bash
# npm run setup: install what runwright and its sample services need on a Debian machine with Node 20.
# As root with apt: installs the missing Debian packages. Otherwise: prints exactly what is missing.
set -uo pipefail
cd "$(dirname "$0")/.."

missing=()
have() { command -v "$1" >/dev/null 2>&1; }
pyhas() { /usr/bin/python3 -c "import $1" >/dev/null 2>&1; }

have git || missing+=(git)
have redis-server || missing+=(redis-server)
have /usr/bin/python3 || missing+=(python3)
pyhas sqlalchemy || missing+=(python3-sqlalchemy)
pyhas alembic || missing+=(python3-alembic)
pyhas psycopg2 || missing+=(python3-psycopg2)
/usr/bin/python3 -m venv --help >/dev/null 2>&1 && /usr/bin/python3 -c "import ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
have pg_ctlcluster || have postgres || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# A real Alertmanager for the intake test (test/api/alertmanager-real.test.ts).
have prometheus-alertmanager || missing+=(prometheus-alertmanager)

if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || { echo "setup: apt-get install failed" >&2; exit 1; }
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: install them with: sudo apt-get install ${missing[*]}" >&2
  fi
fi

# The lock file lists every platform's optional prebuilt packages (the registry mirror here serves only
# linux ones; npm skips the others by os/cpu). If npm ci still refuses it, say so loudly and install anyway.
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund || { echo "setup: WARNING: npm ci refused package-lock.json; falling back to npm install" >&2; npm install --no-audit --no-fund; }
else
  npm install --no-audit --no-fund
fi
# Put `runwright` on the PATH (npm link: a symlink in npm's global bin). Without write access there, say so:
# `npx runwright ...` works from this folder either way.
if npm link --no-audit --no-fund >/dev/null 2>&1 && command -v runwright >/dev/null 2>&1; then
  echo "setup: runwright is on the PATH ($(command -v runwright)); runwright --version: $(runwright --version)"
else
  echo "setup: could not put runwright on the PATH (npm link needs write access to $(npm prefix -g)); use \`npx runwright ...\` from this folder, or run: sudo npm link" >&2
fi
echo "setup: done. Redis: ${REDIS_URL:-redis://127.0.0.1:6379} (npm test and npm run demo start a private redis-server when none answers)"
