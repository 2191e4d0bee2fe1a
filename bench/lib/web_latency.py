"""Latency of web pages, one client: a fixed number of requests per path, a fixed pause between them.

  web_latency.py --base URL [--paths /web/health:400,/web/list/mail.mail:100] [--requests 400]
                 [--interval 0.01] [--deadline 120] [--login admin --password PW]
                 [--probe-db SQLITE_FILE --probe-sql SQL]

Each path is requested COUNT times (`--requests` when a path has no :COUNT), the paths interleaved
in proportion (with 400 and 100: four of the first for one of the second, evenly spread), over one
keep-alive connection (reopened when the server closes it), `--interval` seconds apart, and at most
`--deadline` seconds in all (fewer requests then, reported). With --login, the client logs in
first as a browser does: GET /web/login, the hidden csrf_token, POST login/password/csrf_token,
and keeps the session cookie; every page answer must then be a 200 that is not the login form.

With --probe-db, a thread runs --probe-sql (one number: the work the server still has to do, e.g.
mails not yet sent) on the SQLite file every 0.1 s, read-only; a request counts as "loaded" when
the last value seen before it ended was > 0. The report gives every request's p50/p99 and those of
the loaded ones.

Prints JSON: {"paths": {PATH: {"n", "p50_ms", "p99_ms", "max_ms", "mean_ms", "loaded": {"n",
"p50_ms", "p99_ms", "max_ms"}}}, "errors", "seconds", "reconnects", "probe_first", "probe_last"}.
Python standard library only.
"""
import argparse
import http.client
import json
import math
import re
import sqlite3
import sys
import threading
import time
import urllib.parse


def percentile(values, p):
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


class Client:
    def __init__(self, base, timeout):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        self.timeout = timeout
        self.cookies = {}
        self.conn = None
        self.reconnects = -1

    def _connect(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.reconnects += 1

    def request(self, method, path, body=None):
        headers = {"User-Agent": "juniper-bench-web-latency"}
        if self.cookies:
            headers["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.RemoteDisconnected, http.client.CannotSendRequest, BrokenPipeError,
                    ConnectionResetError):
                # The server closed the kept-alive connection: once more on a new one.
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0].strip()
        if r.getheader("Connection", "").lower() == "close" or r.will_close:
            self.conn.close()
            self.conn = None
        return r.status, r.getheader("Location"), data.decode("utf-8", "replace")


class Probe(threading.Thread):
    def __init__(self, db, sql):
        super().__init__(daemon=True)
        self.db, self.sql = db, sql
        self.value = None
        self.first = None
        self.stop = threading.Event()

    def read(self):
        con = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(self.db), uri=True, timeout=5)
        try:
            return int(con.execute(self.sql).fetchone()[0] or 0)
        finally:
            con.close()

    def run(self):
        while not self.stop.is_set():
            try:
                self.value = self.read()
                if self.first is None:
                    self.first = self.value
            except sqlite3.Error:
                pass  # busy for a moment: keep the last value
            self.stop.wait(0.1)


def login(client, user, password):
    status, _, page = client.request("GET", "/web/login")
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if status != 200 or not m:
        raise SystemExit("web_latency: no csrf_token on /web/login (HTTP %d)" % status)
    form = urllib.parse.urlencode({"login": user, "password": password, "csrf_token": m.group(1)})
    status, location, _ = client.request("POST", "/web/login", body=form)
    if status not in (302, 303) or (location or "").startswith("/web/login"):
        raise SystemExit("web_latency: login as %s failed (HTTP %d, Location %s)" % (user, status, location))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--paths", default="/web/health")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--interval", type=float, default=0.01)
    ap.add_argument("--deadline", type=float, default=120.0)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--login")
    ap.add_argument("--password", default="")
    ap.add_argument("--probe-db")
    ap.add_argument("--probe-sql")
    a = ap.parse_args()

    counts = {}
    for item in a.paths.split(","):
        if item:
            path, _, n = item.partition(":")
            counts[path] = int(n) if n else a.requests
    paths = list(counts)
    client = Client(a.base, a.timeout)
    if a.login:
        login(client, a.login, a.password)
    probe = None
    if a.probe_db and a.probe_sql:
        probe = Probe(a.probe_db, a.probe_sql)
        probe.value = probe.read()
        probe.first = probe.value
        probe.start()

    times = {p: [] for p in paths}
    loaded = {p: [] for p in paths}
    errors = []
    t_start = time.monotonic()
    end = t_start + a.deadline
    done = {p: 0 for p in paths}
    while time.monotonic() < end:
        left = [p for p in paths if done[p] < counts[p]]
        if not left:
            break
        # the path furthest behind its share goes next
        p = min(left, key=lambda q: ((done[q] + 1) / counts[q], paths.index(q)))
        done[p] += 1
        t0 = time.perf_counter()
        try:
            status, location, _ = client.request("GET", p)
        except (OSError, http.client.HTTPException) as e:
            errors.append("%s: %s" % (p, e))
            client.conn = None
            continue
        dt = (time.perf_counter() - t0) * 1000.0
        if status != 200:  # a page that redirects to the login form is an error too
            errors.append("%s: HTTP %d %s" % (p, status, location or ""))
            continue
        times[p].append(dt)
        if probe is not None and (probe.value or 0) > 0:
            loaded[p].append(dt)
        time.sleep(a.interval)
    seconds = time.monotonic() - t_start
    if probe is not None:
        probe.stop.set()

    def summary(v):
        return {"n": len(v), "p50_ms": percentile(v, 50), "p99_ms": percentile(v, 99),
                "max_ms": max(v) if v else None, "mean_ms": sum(v) / len(v) if v else None}

    out = {"paths": {}, "errors": len(errors), "error_samples": errors[:5], "seconds": round(seconds, 2),
           "reconnects": client.reconnects, "requests_per_path": counts, "interval_s": a.interval}
    for p in paths:
        out["paths"][p] = summary(times[p])
        if probe is not None:
            out["paths"][p]["loaded"] = summary(loaded[p])
    if probe is not None:
        out["probe_first"] = probe.first
        out["probe_last"] = probe.value
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
