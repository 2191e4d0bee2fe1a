#!/usr/bin/python3
"""Wait until mailstack services answer.  Usage: probe.py ENV_FILE TIMEOUT_S CHECK...

CHECKs (each retried until the common deadline):
  idp        GET /_control/health -> 200
  smtp       220 greeting, EHLO, STARTTLS (certificate verified against CA_FILE), EHLO
  smtp-auth  as smtp, and the EHLO after STARTTLS offers AUTH ... XOAUTH2 (so Postfix reached
             Dovecot's auth socket)
  imaps      TLS (verified), "* OK" greeting with AUTH=XOAUTH2 (asks CAPABILITY otherwise)
No logins are made.  An smtp check is one connection in postfix.log ("connect from").
Only socket/ssl are imported: interpreter start-up is a large part of the stack's start time.
"""
import socket
import ssl
import sys
import time


def read_env(path):
    env = {}
    with open(path) as fh:
        for line in fh:
            if "=" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v.strip("'\"")
    return env


class Conn:
    def __init__(self, port, timeout=3.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError("connection closed by server")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("latin-1")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def smtp_reply(self):
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                return int(ln[:3]), lines

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def check_idp(env, ctx):
    c = Conn(int(env["IDP_PORT"]), timeout=2)
    try:
        c.sock.sendall(b"GET /_control/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        status = c.line()
        if " 200 " not in status:
            raise RuntimeError(status)
    finally:
        c.close()


def check_smtp(env, ctx, need_auth=False):
    c = Conn(int(env["SMTP_PORT"]))
    try:
        code, lines = c.smtp_reply()
        if code != 220:
            raise RuntimeError("greeting: %r" % lines)
        c.send("EHLO mailstack-probe")
        code, lines = c.smtp_reply()
        c.send("STARTTLS")
        code, lines = c.smtp_reply()
        if code != 220:
            raise RuntimeError("STARTTLS: %r" % lines)
        c.sock = ctx.wrap_socket(c.sock, server_hostname="127.0.0.1")
        c.send("EHLO mailstack-probe")
        code, lines = c.smtp_reply()
        if need_auth and not any(ln[4:].upper().startswith("AUTH ") and "XOAUTH2" in ln.upper()
                                 for ln in lines):
            raise RuntimeError("AUTH XOAUTH2 not offered (yet): %r" % lines)
        c.send("QUIT")
        c.smtp_reply()
    finally:
        c.close()


def check_imaps(env, ctx):
    c = Conn(int(env["IMAPS_PORT"]))
    try:
        c.sock = ctx.wrap_socket(c.sock, server_hostname="127.0.0.1")
        greeting = c.line()
        if not greeting.startswith("* OK"):
            raise RuntimeError("greeting: %r" % greeting)
        caps = greeting.upper()
        if "AUTH=XOAUTH2" not in caps:
            c.send("p1 CAPABILITY")
            caps = ""
            while True:
                ln = c.line()
                caps += ln.upper() + " "
                if ln.startswith("p1 "):
                    break
        if "AUTH=XOAUTH2" not in caps:
            raise RuntimeError("AUTH=XOAUTH2 not offered: %r" % caps)
        c.send("p2 LOGOUT")
        while not c.line().startswith("p2 "):
            pass
    finally:
        c.close()


CHECKS = {
    "idp": check_idp,
    "smtp": check_smtp,
    "smtp-auth": lambda env, ctx: check_smtp(env, ctx, need_auth=True),
    "imaps": check_imaps,
}


def main(argv):
    if len(argv) < 4 or any(c not in CHECKS for c in argv[3:]):
        print(__doc__, file=sys.stderr)
        return 2
    env = read_env(argv[1])
    deadline = time.monotonic() + float(argv[2])
    ctx = ssl.create_default_context(cafile=env["CA_FILE"])
    for name in argv[3:]:
        delay = 0.01
        while True:
            try:
                CHECKS[name](env, ctx)
                break
            except Exception as exc:  # noqa: BLE001 - keep trying, report the last error
                if time.monotonic() >= deadline:
                    print("mailstack probe: %s not answering after %s s: %s"
                          % (name, argv[2], exc), file=sys.stderr)
                    return 1
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
