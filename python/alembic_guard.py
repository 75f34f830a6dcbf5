#!/usr/bin/env python3
"""runwright: run the target's alembic, refusing every database connection to a database other than the one
runwright handed over.

Usage: python alembic_guard.py DATABASE -c alembic.ini ARGS...   (then as `python -m alembic -c alembic.ini ARGS...`)

runwright points alembic at a scratch database through alembic.ini's [alembic] sqlalchemy.url and the target's
URL env var. An env.py that takes its URL from elsewhere (the multidb template's [engine1] sections, a URL written
in env.py or in an app settings module) would otherwise run `alembic upgrade head` on whatever database that names
- the production one. Before SQLAlchemy opens any DBAPI connection (the dialect's do_connect event, which sees the
connect arguments), the database name is compared with the expected one; a different one raises
RunwrightGuardError and the connection is never made.

Everything else is `python -m alembic`: sys.argv, sys.path[0] = the working directory, run as __main__.
"""
import os
import runpy
import sys


class RunwrightGuardError(RuntimeError):
    pass


def _database_of(cargs, cparams):
    for key in ("dbname", "database"):
        v = cparams.get(key)
        if v:
            return str(v)
    # a libpq DSN string ("dbname=x host=y")
    for a in list(cargs) + [cparams.get("dsn")]:
        if isinstance(a, str):
            for part in a.split():
                if part.startswith("dbname="):
                    return part[len("dbname="):].strip("'")
    return None


def _install(expected):
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def check(dialect, conn_rec, cargs, cparams):
        got = _database_of(cargs, cparams)
        if got != expected:
            raise RunwrightGuardError(
                f"env.py connects to database {got!r}, not to the database runwright handed over ({expected!r}) "
                "through alembic.ini's [alembic] sqlalchemy.url and the target's URL env var; refused before "
                "connecting (the URL comes from somewhere else: a multidb [engine] section, env.py or app settings)"
            )
        return None  # let the dialect connect as usual

    event.listen(Engine, "do_connect", check)


def main():
    if len(sys.argv) < 2:
        print("usage: alembic_guard.py DATABASE ALEMBIC-ARGS...", file=sys.stderr)
        sys.exit(2)
    expected = sys.argv[1]
    # as `python -m alembic` would: the working directory first on sys.path, not this file's folder
    sys.path[0] = os.getcwd()
    _install(expected)
    sys.argv = ["alembic"] + sys.argv[2:]
    runpy.run_module("alembic", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
