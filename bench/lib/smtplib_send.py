"""Baseline: the Odoo-style SMTP loop with the standard library.

One connection, STARTTLS, AUTH XOAUTH2 once (initial response, as Odoo's _smtp_login does for
Outlook), then sendmail() per pre-built message (the messages are built before the clock starts),
QUIT.  --nodelay sets TCP_NODELAY on the socket right after connect.

  smtplib_send.py --port P --ca CA --user U --token T [--nodelay] [--count N] [--envelope ADDR]

Prints JSON: {"mails", "seconds", "mails_per_s", "nodelay"}.  /usr/bin/python3, stdlib only.
"""
import argparse
import base64
import json
import os
import smtplib
import socket
import ssl
import sys
import time
from email.message import EmailMessage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mails  # noqa: E402


def build(count):
    out = []
    for i, name, addr, subject, body in mails.spec(count):
        m = EmailMessage()
        m["From"] = "%s <%s>" % (name, addr)
        m["To"] = mails.RECIPIENT
        m["Subject"] = subject
        m["Message-Id"] = mails.message_id()
        m.set_content(body)
        out.append(m.as_string())
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--nodelay", action="store_true")
    p.add_argument("--count", type=int, default=mails.COUNT)
    p.add_argument("--envelope", default="bounce@example.com")
    a = p.parse_args()

    messages = build(a.count)  # outside the timing
    ctx = ssl.create_default_context(cafile=a.ca)
    auth = base64.b64encode(("user=%s\1auth=Bearer %s\1\1" % (a.user, a.token)).encode()).decode()

    t0 = time.perf_counter()
    s = smtplib.SMTP(a.host, a.port, timeout=60)
    if a.nodelay:
        s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.ehlo()
    s.starttls(context=ctx)
    s.ehlo()
    code, resp = s.docmd("AUTH", "XOAUTH2 " + auth)
    if code != 235:
        raise SystemExit("AUTH XOAUTH2 refused: %d %s" % (code, resp))
    for msg in messages:
        s.sendmail(a.envelope, [mails.RECIPIENT], msg)
    s.quit()
    seconds = time.perf_counter() - t0
    print(json.dumps({"mails": len(messages), "seconds": round(seconds, 3),
                      "mails_per_s": round(len(messages) / seconds, 1), "nodelay": a.nodelay}))


if __name__ == "__main__":
    main()
