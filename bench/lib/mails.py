"""The benchmark's message set: deterministic, shared by Juniper's runs and the baselines.

2 000 mails (default) from 20 senders, body sizes log-uniform between 2 and 200 kB (mean ~43 kB),
plain ASCII text in lines of at most 76 characters (7bit, as a typical notification), fixed seed.

  mails.py stats [N]                        count, mean and total body size (JSON)
  mails.py fill-queue DB [N]                insert N outgoing mails into a Juniper database (an SQLite
                                            file, or a postgresql:// URL through psql), with the columns
                                            `juniper mail send` writes; $MAILS_RECIPIENT overrides the To,
                                            $MAILS_STATE the state (default outgoing)
  mails.py fill-light DB N mail|message      insert N sent mails (or N stored incoming messages) with short
                                            bodies into an SQLite database: the lists row's 100 000
  mails.py maildir DIR TO [N]               write N unseen messages into the maildir DIR (new/)
  mails.py maildir-large DIR TO N BYTES     write N unseen messages of about BYTES each into DIR (new/):
                                            a short text part and a base64 attachment of random bytes
                                            (a different one per message)

Python standard library only (run with /usr/bin/python3).
"""
import json
import math
import os
import random
import secrets
import sys
import time

SEED = 20240611
COUNT = 2000
SENDERS = 20
MIN_SIZE = 2 * 1024
MAX_SIZE = 200 * 1024
RECIPIENT = "bench-rcpt@example.com"
DOMAIN = "example.com"

_WORDS = ("invoice order delivery quotation payment reminder customer supplier account project task "
          "meeting report shipment warehouse product quantity price discount contract renewal ticket "
          "support update status approved pending confirmed cancelled the a of to and for with on is "
          "your our this that please find attached below thanks regards best kind details number date").split()


def _pool(rng, size):
    """One long text of lines, from which each body is a slice (fast, still varied)."""
    lines, total = [], 0
    while total < size:
        words, n = [], 0
        limit = rng.randint(40, 74)
        while True:
            w = rng.choice(_WORDS)
            if n + len(w) + (1 if words else 0) > limit:
                break
            n += len(w) + (1 if words else 0)
            words.append(w)
        line = " ".join(words).capitalize() + "."
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


def spec(count=COUNT):
    """[(index, sender_name, sender_address, subject, body)] -- the same for every caller."""
    rng = random.Random(SEED)
    pool = _pool(rng, MAX_SIZE * 2 + 4096)
    line_starts = [0] + [i + 1 for i, c in enumerate(pool) if c == "\n" and i + 1 < MAX_SIZE + 1024]
    out = []
    lo, hi = math.log(MIN_SIZE), math.log(MAX_SIZE)
    for i in range(count):
        size = int(round(math.exp(rng.uniform(lo, hi))))
        start = rng.choice(line_starts)
        body = pool[start:start + size]
        cut = body.rfind("\n")
        body = body[:cut + 1] if cut > 0 else body + "\n"
        # pad to the exact size with a last line (keeps lines short)
        missing = size - len(body)
        while missing > 0:
            chunk = min(missing, 72)
            body += ("x" * (chunk - 1) + "\n") if chunk > 1 else "\n"
            missing -= chunk
        s = i % SENDERS
        out.append((i, "Sender %02d" % s, "sender%02d@%s" % (s, DOMAIN), "Bench mail %04d" % i, body))
    return out


def stats(count=COUNT):
    sizes = [len(m[4]) for m in spec(count)]
    return {"count": len(sizes), "senders": SENDERS, "mean_bytes": round(sum(sizes) / len(sizes)),
            "total_bytes": sum(sizes), "min_bytes": min(sizes), "max_bytes": max(sizes), "seed": SEED}


def message_id(domain=DOMAIN):
    return "<%s@%s>" % (secrets.token_hex(16), domain)


def fill_queue(db, count=COUNT):
    """What `juniper mail send --from F --to T --subject S --body-file B` writes, in bulk."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    to = os.environ.get("MAILS_RECIPIENT") or RECIPIENT
    state = os.environ.get("MAILS_STATE") or "outgoing"
    rows = [("%s <%s>" % (name, addr), to, "", "", subject, body, "", message_id(), state, 0, now)
            for _, name, addr, subject, body in spec(count)]
    columns = ('"email_from", "email_to", "email_cc", "email_bcc", "subject", "body_text", "body_html", '
               '"message_id", "state", "attempts", "create_date"')
    # The bodies live in mail_mail_apart (same id): staged together, then split, matched by the
    # Message-ID (unique per mail).
    row_columns = columns.replace('"body_text", "body_html", ', "")
    staging = ("CREATE TEMP TABLE bench_staging (email_from TEXT, email_to TEXT, email_cc TEXT, email_bcc TEXT, "
               "subject TEXT, body_text TEXT, body_html TEXT, message_id TEXT, state TEXT, attempts INTEGER, "
               "create_date TEXT)")
    split = ["INSERT INTO mail_mail (%s) SELECT %s FROM bench_staging" % (row_columns, row_columns),
             "INSERT INTO mail_mail_apart (id, body_text, body_html) SELECT m.id, s.body_text, s.body_html "
             "FROM bench_staging s JOIN mail_mail m ON m.message_id = s.message_id"]
    if db.startswith("postgresql://") or db.startswith("postgres://"):
        import csv
        import io
        import subprocess
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        args = ["psql", "-q", "-v", "ON_ERROR_STOP=1", db, "-c", "BEGIN", "-c", staging,
                "-c", "COPY bench_staging (%s) FROM STDIN WITH (FORMAT csv)" % columns]
        for q in split:
            args += ["-c", q]
        subprocess.run(args + ["-c", "COMMIT"], input=buf.getvalue(), text=True, check=True)
        return len(rows)
    import sqlite3
    con = sqlite3.connect(db, timeout=30)
    with con:
        con.execute(staging)
        con.executemany("INSERT INTO bench_staging (%s) VALUES (?,?,?,?,?,?,?,?,?,?,?)" % columns, rows)
        for q in split:
            con.execute(q)
    con.close()
    return len(rows)


def fill_light(db, count, kind):
    """N rows for the list pages: sent mails (bodies apart, as Juniper keeps them) or messages."""
    import sqlite3
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    con = sqlite3.connect(db, timeout=30)
    with con:
        if kind == "mail":
            start = con.execute("SELECT COALESCE(MAX(id), 0) FROM mail_mail").fetchone()[0]
            con.executemany(
                'INSERT INTO mail_mail (id, "email_from", "email_to", "subject", "message_id", "state", "attempts", '
                '"create_date", "date_sent") VALUES (?,?,?,?,?,?,?,?,?)',
                ((start + i, "Sender %02d <sender%02d@%s>" % (i % SENDERS, i % SENDERS, DOMAIN), RECIPIENT,
                  "Bench mail %06d" % i, message_id(), "sent", 1, now, now) for i in range(1, count + 1)))
            con.executemany('INSERT INTO mail_mail_apart (id, "body_text") VALUES (?,?)',
                            ((start + i, "Body of bench mail %06d.\n" % i) for i in range(1, count + 1)))
        else:
            con.executemany(
                'INSERT INTO mail_message ("message_id", "email_from", "email_to", "subject", "date", "body_text", '
                '"raw_size") VALUES (?,?,?,?,?,?,?)',
                ((message_id(), "Sender %02d <sender%02d@%s>" % (i % SENDERS, i % SENDERS, DOMAIN), RECIPIENT,
                  "Bench message %06d" % i, now, "Body of bench message %06d.\n" % i, 400) for i in range(1, count + 1)))
    con.close()
    return count


def rfc822(name, addr, to, subject, body, mid, date):
    return ("From: %s <%s>\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: %s\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n%s"
            % (name, addr, to, subject, date, mid, body))


def fill_maildir(maildir, to, count=COUNT):
    """Unseen messages as a local delivery agent leaves them (new/), owned by the mail user."""
    import email.utils
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    base = int(time.time())
    date = email.utils.formatdate(base)
    for i, name, addr, subject, body in spec(count):
        data = rfc822(name, addr, to, subject, body, message_id(), date).encode()
        fn = "%d.M%dP%d.bench,S=%d" % (base, i, os.getpid(), len(data))
        with open(os.path.join(maildir, "new", fn), "wb") as f:
            f.write(data)
    return count


def fill_maildir_large(maildir, to, count, size):
    """Large messages as a mail client sends them: text part + one base64 (76-column) attachment."""
    import base64
    import email.utils
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    base = int(time.time())
    date = email.utils.formatdate(base)
    raw = max(1, (size - 1024) * 57 // 77)  # 57 bytes -> 76 base64 characters and a newline
    for i in range(count):
        boundary = "=_bench_%s" % secrets.token_hex(8)
        b64 = base64.encodebytes(os.urandom(raw))  # lines of 76 characters
        head = ("From: Sender %02d <sender%02d@%s>\nTo: %s\nSubject: Large bench mail %04d\nDate: %s\n"
                "Message-ID: %s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"%s\"\n\n"
                "--%s\nContent-Type: text/plain; charset=us-ascii\n\nThe scanned documents are attached.\n\n"
                "--%s\nContent-Type: application/pdf; name=\"scan-%04d.pdf\"\n"
                "Content-Disposition: attachment; filename=\"scan-%04d.pdf\"\nContent-Transfer-Encoding: base64\n\n"
                % (i % SENDERS, i % SENDERS, DOMAIN, to, i, date, message_id(), boundary, boundary, boundary, i, i))
        data = head.encode() + b64 + ("\n--%s--\n" % boundary).encode()
        fn = "%d.L%dP%d.bench,S=%d" % (base, i, os.getpid(), len(data))
        with open(os.path.join(maildir, "new", fn), "wb") as f:
            f.write(data)
    return count


def main(argv):
    if len(argv) >= 2 and argv[1] == "stats":
        print(json.dumps(stats(int(argv[2]) if len(argv) > 2 else COUNT)))
    elif len(argv) >= 3 and argv[1] == "fill-queue":
        print(fill_queue(argv[2], int(argv[3]) if len(argv) > 3 else COUNT))
    elif len(argv) >= 5 and argv[1] == "fill-light":
        print(fill_light(argv[2], int(argv[3]), argv[4]))
    elif len(argv) >= 4 and argv[1] == "maildir":
        print(fill_maildir(argv[2], argv[3], int(argv[4]) if len(argv) > 4 else COUNT))
    elif len(argv) >= 6 and argv[1] == "maildir-large":
        print(fill_maildir_large(argv[2], argv[3], int(argv[4]), int(argv[5])))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
