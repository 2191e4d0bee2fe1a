"""Prints bench/run's table (or JSON) from the work folder's samples.txt and info.txt.

  report.py WORK_DIR [--json]

Every figure is the median of the runs. Ratio: how many times better ours is than the baseline
(rates: ours/baseline; times and memory: baseline/ours), except the host start-up rows, whose
baseline is a floor (spawning `true`): there the ratio is ours/baseline.
"""
import json
import statistics
import sys


def load(work):
    samples, info = {}, {}
    with open(work + "/samples.txt") as f:
        for line in f:
            if line.strip():
                k, v = line.split(None, 1)
                samples.setdefault(k, []).append(float(v))
    with open(work + "/info.txt") as f:
        for line in f:
            if "\t" in line:
                k, v = line.rstrip("\n").split("\t", 1)
                info[k] = v
    return samples, info


def main():
    work = sys.argv[1]
    as_json = "--json" in sys.argv[2:]
    samples, info = load(work)
    med = {k: statistics.median(v) for k, v in samples.items()}
    runs = int(info.get("runs", "1"))
    count = int(info.get("count", "2000"))
    g = med.get

    def num(v, digits=0):
        if v is None:
            return "-"
        if digits == 0:
            return "{:,.0f}".format(v).replace(",", " ")
        return "{:,.{d}f}".format(v, d=digits).replace(",", " ")

    rows = []

    def row(measure, ours, unit, baseline, baseline_label, ratio, command, ratio_kind="better"):
        rows.append({"measure": measure, "ours": ours, "unit": unit, "baseline": baseline,
                     "baseline_label": baseline_label, "ratio": ratio, "ratio_kind": ratio_kind,
                     "command": command})

    def rate_ratio(a, b):
        return a / b if a is not None and b else None

    def verdict(ok):
        return "unknown" if ok is None else ("met" if ok else "MISSED")

    def within(v, limit):
        return None if v is None else v <= limit

    targets = []

    def target(text, figure, ok):
        targets.append({"target": text, "figure": figure, "verdict": verdict(ok)})
        return verdict(ok)

    MB = 1024.0  # kB per MB (RSS figures are in kB)

    # 1. routing
    sizes = sorted({int(k.split(".")[1]) for k in med if k.startswith("routing.")})
    for n in sizes:
        o, b = g("routing.%d.ours" % n), g("routing.%d.baseline" % n)
        mism = g("routing.%d.mismatches" % n)
        row("Routing, %s servers (ns/route)%s" % (num(n), "" if not mism else " [%d MISMATCHES]" % mism),
            o, "ns", b, "Odoo 17 linear scan (C++ port)", b / o if o else None,
            "$BUILD_DIR/bench/routing/bench_routing --json")
    if len(sizes) >= 2:
        last = sizes[-1]
        row("Routing growth, %s -> %s servers" % (num(sizes[0]), num(last)),
            g("routing.%d.ours_growth" % last), "x", g("routing.%d.baseline_growth" % last), "Odoo linear scan",
            None, "(same run)")

    # 2. send, PLAIN login
    ours = g("send.plain.ours_rate")
    cmd_ours = "juniper mail process --json (queue of %d: bench/lib/mails.py fill-queue)" % count
    row("Send %d, PLAIN login, STARTTLS (mails/s)" % count, ours, "mails/s", g("send.smtplib_plain.rate"),
        "smtplib loop: 1 conn, STARTTLS, XOAUTH2 once, sendmail() each",
        rate_ratio(ours, g("send.smtplib_plain.rate")), cmd_ours + "  vs  bench/lib/smtplib_send.py")
    row("  same, vs smtplib loop + TCP_NODELAY", ours, "mails/s", g("send.smtplib_nodelay.rate"),
        "smtplib loop with TCP_NODELAY", rate_ratio(ours, g("send.smtplib_nodelay.rate")),
        "bench/lib/smtplib_send.py --nodelay")
    delivery = info.get("smtp_source_delivery", "lmtp")
    row("  same, vs Postfix smtp-source (1 session)", ours, "mails/s", g("send.smtp_source.rate"),
        "smtp-source -d -s 1, plain Postfix (no TLS/AUTH, %s)" % (
            "delivering to the same Dovecot LMTP" if delivery == "lmtp" else "discarding"),
        rate_ratio(ours, g("send.smtp_source.rate")),
        "smtp-source -d -s 1 -m %d -l %s 127.0.0.1:PORT_BASE+25" % (count, info.get("mean_bytes", "?")))
    row("  SMTP connections for %d mails" % count, g("send.plain.connections"), "conn",
        g("send.smtplib_plain.connections"), "smtplib loop", None,
        "grep ': connect from' postfix.log (juniper reports %s)" % num(g("send.plain.juniper_connections")))
    cpu = g("send.plain.cpu_s")
    row("  CPU of mail process per mail (user+sys)", cpu * 1000 / count if cpu is not None else None, "ms",
        None, "", None, "/usr/bin/time -v")
    row("  peak RSS of mail process", g("send.plain.rss_kb"), "kB", g("send.smtplib_plain.rss_kb"),
        "smtplib loop (holds the %d pre-built messages)" % count,
        rate_ratio(g("send.smtplib_plain.rss_kb"), g("send.plain.rss_kb")), "/usr/bin/time -v")

    # 2b. send with N connections
    smtplib_rate = g("send.smtplib_plain.rate")
    conns_ns = [n for n in (1, 2, 4) if g("conns.%d.smtp_source_rate" % n) is not None]
    for n in conns_ns:
        o, b = g("conns.%d.ours_rate" % n), g("conns.%d.smtp_source_rate" % n)
        vs_smtplib = rate_ratio(o, smtplib_rate)
        conns_seen = g("conns.%d.connections" % n)
        row("Send %d, max_connections = %d (mails/s)" % (count, n), o, "mails/s", b,
            "smtp-source -d -s %d, plain Postfix; ours vs smtplib loop: %s; SMTP connections seen: %s; "
            "peak RSS %s kB" % (n, "-" if vs_smtplib is None else num(vs_smtplib, 2) + " x", num(conns_seen),
                                num(g("conns.%d.rss_kb" % n))),
            rate_ratio(o, b),
            ("juniper record write ir.mail_server ID max_connections=%d; juniper mail process" % n)
            if o is not None else info.get("conns_note", "(not measured)"))
        same = g("conns.same.%d.ours_rate" % n)
        if same is not None:
            row("  same, to smtp-source's plain Postfix (mails/s)", same, "mails/s", b,
                "smtp-source -d -s %d on the same server (no TLS, no AUTH on either side); accepted: %s" % (
                    n, num(g("conns.same.%d.accepted" % n))), rate_ratio(same, b),
                "ir.mail_server -> the plain Postfix, smtp_encryption=none, no login; juniper mail process")
            target("sending >= 0.8x smtp-source, same server, %d connection(s) / session(s)" % n,
                   "%sx" % num(rate_ratio(same, b), 2), rate_ratio(same, b) >= 0.8)
        if o is not None or n == 1:
            target("sending >= 0.8x smtp-source with %d connection(s) / session(s)" % n,
                   "%sx" % num(rate_ratio(o, b), 2), None if o is None else rate_ratio(o, b) >= 0.8)
            target("sending >= 10x the smtplib loop with %d connection(s)" % n,
                   "%sx" % num(vs_smtplib, 2), None if vs_smtplib is None else vs_smtplib >= 10)
    if conns_ns and info.get("conns_note"):
        row("  note", None, "", None, info["conns_note"], None, "")

    # 3. send, Outlook
    o = g("send.outlook.ours_rate")
    row("Send %d, Outlook XOAUTH2, 1 token refresh (mails/s)" % count, o, "mails/s", ours,
        "the PLAIN-login row above (same run)", rate_ratio(o, ours),
        "juniper mail process --limit %d; expire token (IdP + record); juniper mail process" % (count // 2))
    row("  token endpoint requests per %d mails" % count, g("send.outlook.token_requests"), "req", None,
        "refresh_token grants: %s" % num(g("send.outlook.refresh_grants")), None, "GET $IDP_URL/_control/counts")
    row("  SMTP connections for %d mails" % count, g("send.outlook.connections"), "conn", None, "", None,
        "grep ': connect from' postfix.log")
    row("  peak RSS of mail process", g("send.outlook.rss_kb"), "kB", None, "", None, "/usr/bin/time -v")

    # 3b. Microsoft Graph
    gs = g("graph.send_rate")
    row("Send %d through Microsoft Graph, MIME sendMail (mails/s)" % count, gs, "mails/s", o,
        "the Outlook SMTP XOAUTH2 row above (same run; the simulator delivers by LMTP and saves to Sent)",
        rate_ratio(gs, o), "outlook_transport=graph max_per_minute=0 max_connections=4; juniper mail process")
    row("  Graph requests per mail (send)", g("graph.send_requests_per_mail"), "req", None, "", None,
        "GET $IDP_URL/_control/graph")
    row("  peak RSS of mail process (Graph)", g("graph.send_rss_kb"), "kB", None, "", None, "/usr/bin/time -v")
    gf = g("graph.fetch_rate")
    row("Fetch %d through Microsoft Graph, list + $value + $batch (msgs/s)" % count, gf, "msgs/s", g("fetch.ours_rate"),
        "the IMAP fetch row below (same run); left unread: %s" % num(g("graph.fetch_left_unseen")),
        rate_ratio(gf, g("fetch.ours_rate")), "juniper mail fetch --server ID (outlook_transport=graph)")
    row("  Graph requests per message (fetch)", g("graph.fetch_requests_per_msg"), "req", None, "", None,
        "GET $IDP_URL/_control/graph")
    row("  peak RSS of mail fetch (Graph)", g("graph.fetch_rss_kb"), "kB", None, "", None, "/usr/bin/time -v")
    gl = g("graph_large.rss_kb")
    if gl is not None:
        small = g("graph_large.small_rss_kb")
        row("  peak RSS, one mail with a 100 MB attachment through Graph", gl, "kB", small,
            "one small mail through the same server (same run); sent: %s in %s s" % (num(g("graph_large.sent")),
                                                                                      num(g("graph_large.seconds"))),
            None if small is None else round(gl / small, 2),
            "juniper mail send --attach 100MB.bin; juniper mail process", ratio_kind="times")
        row("  peak RSS of queuing it (mail send --attach)", g("graph_large.queue_rss_kb"), "kB", None, "", None,
            "/usr/bin/time -v")

    # 4. fetch
    f = g("fetch.ours_rate")
    row("Fetch %d unseen, IMAPS, parse, store (msgs/s)" % count, f, "msgs/s", g("fetch.imaplib_rate"),
        "imaplib loop: FETCH RFC822 + 2 STOREs each, email parse, SQLite commit each",
        rate_ratio(f, g("fetch.imaplib_rate")),
        "juniper mail fetch --server ID (mail.fetch.batch=%d)  vs  bench/lib/imaplib_fetch.py" % count)
    row("  peak RSS of mail fetch", g("fetch.rss_kb"), "kB", None, "", None, "/usr/bin/time -v")

    # 4b. peak RSS
    def rss_row(measure, key, limit_mb, command):
        v = g(key)
        if v is None:
            return
        ok = within(v, limit_mb * MB)
        row(measure, v, "kB", None, "target <= %d MB: %s" % (limit_mb, verdict(ok)), None, command)
        target("%s <= %d MB" % (measure.strip(), limit_mb), "%s MB" % num(v / MB, 1), ok)

    if any(k.startswith("serve_idle.") or k.startswith("fetch_large.") for k in med):
        rss_row("Peak RSS, juniper mail process, %d mails" % count, "send.plain.rss_kb", 24,
                "/usr/bin/time -v juniper mail process (the PLAIN-login row)")
        rss_row("Peak RSS, juniper mail fetch, %d x ~%s kB" % (count, num(float(info.get("mean_bytes", 0)) / 1000)),
                "fetch.rss_kb", 48, "/usr/bin/time -v juniper mail fetch (the fetch row)")
        large = info.get("large", "25 x 20000000 bytes").split()
        rss_row("Peak RSS, juniper mail fetch, %s x %s MB" % (large[0], num(float(large[2]) / 1e6)),
                "fetch_large.rss_kb", 48,
                "/usr/bin/time -v juniper mail fetch (mail.fetch.batch=%d; bench/lib/mails.py maildir-large); %s msgs/s"
                % (count, num(g("fetch_large.ours_rate"), 2)))
        v = g("serve_idle.rss_kb")
        if v is not None:
            ok = within(v, 16 * MB)
            row("RSS, juniper serve idle after start (VmRSS)", v, "kB", None,
                "target <= 16 MB: %s; VmHWM %s kB; of VmRSS: RssAnon %s kB, RssFile %s kB (binary + shared "
                "libraries); Pss %s kB" % (verdict(ok), num(g("serve_idle.hwm_kb")), num(g("serve_idle.anon_kb")),
                                           num(g("serve_idle.file_kb")), num(g("serve_idle.pss_kb"))), None,
                "/proc/PID/status 2 s after /web/health answers (fresh database)")
            target("juniper serve idle RSS <= 16 MB", "%s MB" % num(v / MB, 1), ok)
        v = g("serve_login.rss_kb")
        if v is not None:
            row("RSS, juniper serve after one login and the settings page", v, "kB", None,
                "no target (libcurl and its libraries are mapped by then); RssAnon %s kB" % num(g("serve_login.anon_kb")),
                None, "/proc/PID/status 1 s after GET /web/settings")

    # 4c. web latency under mail load
    page_label = "/web/list/mail.mail"
    if g("web.idle.health.p99_ms") is not None:
        nreq = info.get("web_requests", "400")
        for key, label in (("health", "/web/health"), ("page", page_label + " (admin)")):
            row("Web %s idle, p99 (ms)" % label, g("web.idle.%s.p99_ms" % key), "ms", None,
                "p50 %s ms, max %s ms, %s requests, %d mails in the table; with an empty table: p50 %s, p99 %s ms" % (
                    num(g("web.idle.%s.p50_ms" % key), 2), num(g("web.idle.%s.max_ms" % key), 2),
                    num(g("web.idle.%s.n" % key)), count, num(g("web.empty.%s.p50_ms" % key), 2),
                    num(g("web.empty.%s.p99_ms" % key), 2)),
                None, "bench/lib/web_latency.py (one client; %s; 10 ms apart)" % nreq)
        phases = (("send", "while serve sends %d" % count),
                  ("send_apart", "while serve sends %d, mail server on other CPUs" % count),
                  ("fetch", "while serve fetches %d" % count),
                  ("silent", "SMTP server silent"))
        for phase, what in phases:
            if g("web.%s.health.n" % phase) is None:
                continue
            parts, parts_ms = [], []
            ok_x, ok_ms = True, True
            for key, label in (("health", "/web/health"), ("page", "admin page")):
                idle99 = g("web.idle.%s.p99_ms" % key)
                # loaded requests only (the probe saw work left)
                p99 = g("web.%s.%s.loaded_p99_ms" % (phase, key))
                p50 = g("web.%s.%s.loaded_p50_ms" % (phase, key))
                n_loaded = g("web.%s.%s.loaded_n" % (phase, key)) or 0
                x = rate_ratio(p99, idle99)
                row("Web %s %s, p99 (ms)" % (label, what), p99, "ms", idle99, "p99 idle (same serve); p50 %s ms "
                    "(idle %s); %s of %s requests under load" % (
                        num(p50, 2), num(g("web.idle.%s.p50_ms" % key), 2), num(n_loaded),
                        num(g("web.%s.%s.n" % (phase, key)))),
                    x, "loaded p99 / idle p99", ratio_kind="times")
                ok_x = None if x is None or ok_x is None else (ok_x and x <= 3)
                ok_ms = None if p99 is None or ok_ms is None else (ok_ms and p99 <= 50)
                parts.append("%s %sx" % (key, num(x, 1)))
                parts_ms.append("%s %s ms" % (key, num(p99, 1)))
            held = "; %s conn held" % num(g("web.silent.connections")) if phase == "silent" else ""
            target("web p99 %s <= 3x idle" % what, ", ".join(parts) + held, ok_x)
            target("web p99 %s <= 50 ms" % what, ", ".join(parts_ms), ok_ms)

    # 4d. two processes on one PostgreSQL
    t1, t2 = g("pg.1.seconds"), g("pg.2.seconds")
    if t1 is not None or t2 is not None:
        speed = rate_ratio(t1, t2)
        dups = (g("pg.2.duplicates") or 0) + (g("pg.1.duplicates") or 0) if t2 is not None else None
        missing = (g("pg.2.missing") or 0) + (g("pg.1.missing") or 0) if t2 is not None else None
        ceiling = rate_ratio(g("conns.2.smtp_source_rate"), g("conns.1.smtp_source_rate"))
        # The same 2 sessions to the same STARTTLS server from one process (the conns rows): what
        # this server and box give a second session, whoever opens it.
        one_process = rate_ratio(g("conns.2.ours_rate"), g("conns.1.ours_rate"))
        row("Send %d on one PostgreSQL queue, 2 processes (s)" % count, t2, "s", t1,
            "1 process, same queue size; sent per process %s; at Dovecot: %s duplicates, %s missing%s%s" % (
                info.get("pg_split_2", "?"), num(dups), num(missing),
                "" if ceiling is None else "; mail server's own 2-session gain (smtp-source -s 2 / -s 1, plain Postfix): %sx"
                % num(ceiling, 2),
                "" if one_process is None else "; one process with max_connections 2 / 1 on this STARTTLS server: %sx"
                % num(one_process, 2)),
            speed, "2 x juniper --db URL mail process at once (tests/pg/start.sh)")
        target("2 processes on one PostgreSQL >= 1.6x one process", "%sx" % num(speed, 2),
               None if speed is None else speed >= 1.6)
        target("2 processes on one PostgreSQL: 0 duplicates (Message-IDs at Dovecot)", "%s" % num(dups),
               None if dups is None else dups == 0)

    # 4e. lists of 100 000
    for kind, label in (("mail", "Emails"), ("message", "Incoming messages")):
        base99 = g("lists.small.%s_first.p99_ms" % kind)
        for what, words, path in (("first", "first page", ""), ("page", "page 500", "?page=500"),
                                  ("search", "a search", "?q=..."), ("sort", "sorted by a column", "?sort=...")):
            p50, p99 = g("lists.big.%s_%s.p50_ms" % (kind, what)), g("lists.big.%s_%s.p99_ms" % (kind, what))
            if p50 is None:
                continue
            row("List of 100 000 %s, %s (ms, p99)" % (label, words), p99, "ms", base99,
                "first page of the same list with 100 rows (p99); ours p50 %s ms" % num(p50, 1),
                rate_ratio(p99, base99), "GET /web/list/mail.%s%s (bench/lib/web_latency.py)" % (kind, path),
                ratio_kind="growth")
            target("list of 100 000 %s, %s: <= 100 ms a page (p50; p99 %s ms)" % (label, words, num(p99, 1)),
                   "%s ms" % num(p50, 1), p50 <= 100)

    # 5. host
    row("Host: exec -> module list output (us)", g("host.list.ours"), "us", g("host.list.baseline"),
        "spawn of `true`", rate_ratio(g("host.list.ours"), g("host.list.baseline")),
        "bench/host_startup.sh $BUILD_DIR 10", ratio_kind="cost")
    row("Host: exec -> serve answers /web/health (us)", g("host.serve.ours"), "us", g("host.serve.baseline"),
        "spawn of `true`", rate_ratio(g("host.serve.ours"), g("host.serve.baseline")),
        "bench/host_startup.sh $BUILD_DIR 10", ratio_kind="cost")
    row("Host: serve resident memory, idle", g("host.rss_kb"), "kB", None, "", None,
        "bench/host_startup.sh $BUILD_DIR 10")

    # targets
    big = sizes[-1] if sizes else None
    r_ns = g("routing.%d.ours" % big) if big else None
    r_gr = g("routing.%d.ours_growth" % big) if big else None
    smtplib_x = rate_ratio(ours, g("send.smtplib_plain.rate"))
    source_x = rate_ratio(ours, g("send.smtp_source.rate"))
    fetch_x = rate_ratio(f, g("fetch.imaplib_rate"))
    targets[:0] = [
        {"target": "routing <= 1 us per route at 100 000 servers", "figure": "%s ns" % num(r_ns),
         "verdict": verdict(None if r_ns is None else r_ns <= 1000)},
        {"target": "routing flat: 10 -> 100 000 servers costs <= 2x", "figure": "%sx" % num(r_gr, 2),
         "verdict": verdict(None if r_gr is None else r_gr <= 2.0)},
        {"target": "sending >= 10x the smtplib loop (one-session server ceiling, smtp-source/smtplib: %sx)"
                   % num(rate_ratio(g("send.smtp_source.rate"), g("send.smtplib_plain.rate")), 2),
         "figure": "%sx" % num(smtplib_x, 2),
         "verdict": verdict(None if smtplib_x is None else smtplib_x >= 10)},
        {"target": "sending >= 0.8x smtp-source in one session", "figure": "%sx" % num(source_x, 2),
         "verdict": verdict(None if source_x is None else source_x >= 0.8)},
        {"target": "fetching >= 10x the imaplib loop", "figure": "%sx" % num(fetch_x, 2),
         "verdict": verdict(None if fetch_x is None else fetch_x >= 10)},
    ]

    # rows left out by --only: no figure, no verdict
    rows[:] = [r for r in rows if r["ours"] is not None or r["baseline"] is not None or r["measure"].strip() == "note"]
    targets = [t for t in targets if not (t["verdict"] == "unknown" and t["figure"].startswith("-"))]

    profile = None
    try:
        with open(work + "/profile.txt") as f:
            profile = f.read().rstrip("\n")
    except OSError:
        pass

    if as_json:
        out = {"machine": info, "rows": rows, "targets": targets, "samples": samples, "medians": med}
        if profile is not None:
            out["profile"] = profile.splitlines()
        print(json.dumps(out, indent=2))
        return

    print("Machine: %s, nproc %s, load average at start %s" % (
        info.get("model", "?"), info.get("nproc", "?"), info.get("load_at_start", "?")))
    print("Build:   %s (%s)%s" % (info.get("build_dir"), info.get("build_type"),
                                  "" if info.get("build_type") in ("Release", "RelWithDebInfo", "MinSizeRel")
                                  else "  <-- NOT an optimised build: figures are not representative"))
    print("Stack:   %s; %s" % (info.get("versions", ""), info.get("stack", "")))
    print("Mails:   %s" % info.get("mail_mix", ""))
    print("Routes:  PLAIN row: %s | Outlook row: %s" % (info.get("plain_route", "?"), info.get("outlook_route", "?")))
    print("Runs:    %d (median)%s" % (runs, "" if runs > 1 else "; --runs N for a median of N"))
    print()

    def fig(v, unit):
        if v is None:
            return "-"
        digits = 0 if (unit in ("kB", "us", "conn", "req") or abs(v) >= 100) else (2 if unit in ("x", "ms", "s") else 1)
        return "%s %s" % (num(v, digits), unit)

    def ratio_text(r):
        if r["ratio"] is None:
            return "-"
        if r["ratio_kind"] == "cost":
            return "%s x spawn" % num(r["ratio"], 1)
        if r["ratio_kind"] == "times":
            return "%s x idle" % num(r["ratio"], 2)
        if r["ratio_kind"] == "growth":
            return "%s x 100 rows" % num(r["ratio"], 1)
        return "%s x" % num(r["ratio"], 2)

    table = [("measure", "ours", "baseline", "ratio", "baseline is / command")]
    for r in rows:
        base = fig(r["baseline"], r["unit"]) if r["baseline"] is not None else "-"
        table.append((r["measure"], fig(r["ours"], r["unit"]), base, ratio_text(r),
                      (r["baseline_label"] + "  |  " if r["baseline_label"] else "") + r["command"]))
    widths = [max(len(t[i]) for t in table) for i in range(4)]
    for i, t in enumerate(table):
        print("%-*s | %*s | %*s | %*s | %s" % (widths[0], t[0], widths[1], t[1], widths[2], t[2], widths[3], t[3],
                                              t[4]))
        if i == 0:
            print("-+-".join("-" * w for w in widths) + "-+-" + "-" * 20)
    print()
    print("Ratio: times better than the baseline (rates: ours/baseline; memory and routing time: baseline/ours);")
    print("host start-up rows: ours/baseline, the baseline being the cost of spawning a process; web rows:")
    print("p99 under load / p99 idle (lower is better); list rows: p99 / p99 of a 100-row list; PostgreSQL row: 1-process time / 2-process time.")
    print("Targets (printed, not asserted):")
    for t in targets:
        print("  %-88s %-10s %s" % (t["target"], t["figure"], t["verdict"]))
    if profile is not None:
        print()
        print("Profile of `juniper mail process`, 200 mails (--profile):")
        print(profile)


if __name__ == "__main__":
    main()
