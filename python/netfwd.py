#!/usr/bin/env python3
"""runwright: inside a sandbox without network, make 127.0.0.1:<port> reach an endpoint runwright handed over.

Usage: netfwd.py SOCKDIR PORT [PORT ...] -- ARGV...

For each PORT, listens on 127.0.0.1:PORT (the sandbox's own loopback) and pipes every connection to the unix
socket SOCKDIR/PORT.sock (bound in by runwright, forwarded outside to exactly one host:port). Then runs ARGV as a
child and exits with its status. Nothing else is reachable: the network namespace has no other interface.
"""
import os
import socket
import sys
import threading


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def accept_loop(server, path):
    while True:
        inner, _ = server.accept()
        outer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            outer.connect(path)
        except OSError:
            inner.close()
            outer.close()
            continue
        threading.Thread(target=pump, args=(inner, outer), daemon=True).start()
        threading.Thread(target=pump, args=(outer, inner), daemon=True).start()


def main(argv):
    if "--" not in argv or len(argv) < 4:
        print("usage: netfwd.py SOCKDIR PORT [PORT ...] -- ARGV...", file=sys.stderr)
        return 2
    sep = argv.index("--")
    sockdir, ports, cmd = argv[1], [int(p) for p in argv[2:sep]], argv[sep + 1:]
    servers = []
    for port in ports:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(64)
        servers.append((server, os.path.join(sockdir, "%d.sock" % port)))
    pid = os.fork()
    if pid == 0:
        for server, _ in servers:
            server.close()
        try:
            os.execvp(cmd[0], cmd)
        except OSError as e:
            print("cannot run %s: %s" % (cmd[0], e), file=sys.stderr)
            os._exit(127)
    for server, path in servers:
        threading.Thread(target=accept_loop, args=(server, path), daemon=True).start()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
