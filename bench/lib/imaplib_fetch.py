"""Baseline: the Odoo-style IMAP fetch loop (fetchmail.server.fetch_mail) with the standard library.

IMAPS login, SELECT, SEARCH UNSEEN, then per message: FETCH (RFC822), STORE -FLAGS \\Seen, parse with
the `email` package, INSERT into SQLite and COMMIT, STORE +FLAGS \\Seen.  The SQLite file uses the
same settings as Juniper's (WAL, synchronous=NORMAL).

  imaplib_fetch.py --port P --ca CA --user U --password PW --db FILE

Prints JSON: {"messages", "seconds", "messages_per_s"}.  /usr/bin/python3, stdlib only.
"""
import argparse
import email
import email.policy
import email.utils
import imaplib
import json
import sqlite3
import ssl
import time


def parse(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.SMTP)
    body = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    date = msg.get("Date")
    try:
        date = email.utils.parsedate_to_datetime(date).isoformat() if date else None
    except (TypeError, ValueError):
        date = None
    return {
        "message_id": (msg.get("Message-ID") or "").strip(),
        "email_from": str(msg.get("From") or ""),
        "email_to": str(msg.get("To") or ""),
        "email_cc": str(msg.get("Cc") or ""),
        "subject": str(msg.get("Subject") or ""),
        "date": date,
        "body_text": body.get_content() if body is not None else "",
        "body_html": html.get_content() if html is not None else "",
        "raw_size": len(raw),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--db", required=True)
    a = p.parse_args()

    db = sqlite3.connect(a.db)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS mail_message (id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT, "
               "email_from TEXT, email_to TEXT, email_cc TEXT, subject TEXT, date TEXT, body_text TEXT, "
               "body_html TEXT, raw_size INTEGER)")
    db.commit()
    cols = ("message_id", "email_from", "email_to", "email_cc", "subject", "date", "body_text", "body_html",
            "raw_size")
    insert = "INSERT INTO mail_message (%s) VALUES (%s)" % (", ".join(cols), ", ".join("?" * len(cols)))

    ctx = ssl.create_default_context(cafile=a.ca)
    t0 = time.perf_counter()
    imap = imaplib.IMAP4_SSL(a.host, a.port, ssl_context=ctx)
    imap.login(a.user, a.password)
    imap.select()
    _, data = imap.search(None, "(UNSEEN)")
    count = 0
    for num in data[0].split():
        _, fetched = imap.fetch(num, "(RFC822)")
        imap.store(num, "-FLAGS", "\\Seen")
        values = parse(fetched[0][1])
        db.execute(insert, tuple(values[c] for c in cols))
        db.commit()
        imap.store(num, "+FLAGS", "\\Seen")
        count += 1
    imap.close()
    imap.logout()
    seconds = time.perf_counter() - t0
    db.close()
    print(json.dumps({"messages": count, "seconds": round(seconds, 3),
                      "messages_per_s": round(count / seconds, 1) if seconds else None}))


if __name__ == "__main__":
    main()
