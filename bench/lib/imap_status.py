"""Log in over IMAPS and print STATUS INBOX (MESSAGES UNSEEN) as JSON; makes Dovecot index the
mailbox (used before the fetch timings, so that neither side pays for the first scan).

  imap_status.py PORT CA USER PASSWORD
"""
import imaplib
import json
import re
import ssl
import sys

port, ca, user, password = sys.argv[1:5]
imap = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ssl.create_default_context(cafile=ca))
imap.login(user, password)
_, data = imap.status("INBOX", "(MESSAGES UNSEEN)")
imap.logout()
text = data[0].decode()
print(json.dumps({k.lower(): int(v) for k, v in re.findall(r"(MESSAGES|UNSEEN) (\d+)", text)}))
