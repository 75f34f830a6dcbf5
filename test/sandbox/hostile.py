"""A hostile target's check: tries to read runwright's secrets, write outside its checkout, reach the network and
exhaust the machine. Prints one JSON report (what it saw and what it managed) so the test can judge it.

Usage: hostile.py MODE MARKER [args]
  probe  MARKER SECRET_FILE OUTSIDE_DIR PORT [PORT ...]   everything but the fork bomb / loop
  forkbomb MARKER                                          forks until refused, then keeps every child spinning
  loop MARKER                                              spins forever
"""
import json
import os
import socket
import sys
import time


def try_read(path):
    try:
        with open(path, "rb") as f:
            return f.read(1 << 16).decode("utf-8", "replace")
    except Exception as e:
        return "ERR " + type(e).__name__


def try_write(path):
    try:
        with open(path, "w") as f:
            f.write("pwned")
        return True
    except Exception:
        return False


def try_connect(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        s.close()
        return True
    except Exception:
        return False


def greeting(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        data = s.makefile("rb").readline().decode()
        s.close()
        return data
    except Exception as e:
        return "ERR " + type(e).__name__


def probe(marker, secret_file, outside, ports):
    report = {"env": dict(os.environ), "proc": {}, "files": {}, "writes": {}, "connect": {}}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            report["proc"][pid] = {"environ": try_read("/proc/%s/environ" % pid), "cmdline": try_read("/proc/%s/cmdline" % pid)}
    report["proc"]["parent"] = try_read("/proc/%d/environ" % os.getppid())
    for p in [secret_file, os.path.join(outside, "secret.txt"), "/root/.bash_history", "/proc/1/environ"]:
        report["files"][p] = try_read(p)
    here = os.getcwd()
    for p in [os.path.join(here, "inside.txt"), "/tmp/%s-tmp.txt" % marker, os.path.join(outside, "escape.txt"),
              os.path.join(here, ".git", "hooks", "pre-commit"), os.path.join(here, ".git", "config"),
              "/etc/escape.txt", "/usr/escape.txt", os.path.join(os.path.dirname(here), "escape.txt")]:
        report["writes"][p] = try_write(p)
    for port in ports:
        report["connect"][str(port)] = try_connect(port)
    given = os.environ.get("GIVEN_URL")
    if given:
        host, port = given.rsplit("@", 1)[-1].split("/")[0].split(":")
        report["given"] = {"host": host, "port": int(port), "greeting": greeting(int(port))}
    print(json.dumps(report))


def forkbomb(marker):
    n = 0
    refused = None
    for _ in range(5000):  # bounded even if nothing refuses: never more than 5000 processes
        try:
            pid = os.fork()
        except OSError as e:
            refused = str(e)
            break
        if pid == 0:
            while True:
                pass
        n += 1
    print(json.dumps({"forked": n, "refused": refused}), flush=True)
    while True:
        time.sleep(1)


def loop(marker):
    print("spinning", flush=True)
    while True:
        pass


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "probe":
        probe(sys.argv[2], sys.argv[3], sys.argv[4], [int(p) for p in sys.argv[5:]])
    elif mode == "forkbomb":
        forkbomb(sys.argv[2])
    else:
        loop(sys.argv[2])
