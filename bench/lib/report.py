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

    # 4. fetch
    f = g("fetch.ours_rate")
    row("Fetch %d unseen, IMAPS, parse, store (msgs/s)" % count, f, "msgs/s", g("fetch.imaplib_rate"),
        "imaplib loop: FETCH RFC822 + 2 STOREs each, email parse, SQLite commit each",
        rate_ratio(f, g("fetch.imaplib_rate")),
        "juniper mail fetch --server ID (mail.fetch.batch=%d)  vs  bench/lib/imaplib_fetch.py" % count)
    row("  peak RSS of mail fetch", g("fetch.rss_kb"), "kB", None, "", None, "/usr/bin/time -v")

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
    def verdict(ok):
        return "unknown" if ok is None else ("met" if ok else "MISSED")

    big = sizes[-1] if sizes else None
    r_ns = g("routing.%d.ours" % big) if big else None
    r_gr = g("routing.%d.ours_growth" % big) if big else None
    smtplib_x = rate_ratio(ours, g("send.smtplib_plain.rate"))
    source_x = rate_ratio(ours, g("send.smtp_source.rate"))
    fetch_x = rate_ratio(f, g("fetch.imaplib_rate"))
    targets = [
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
        {"target": "fetching >= 5x the imaplib loop", "figure": "%sx" % num(fetch_x, 2),
         "verdict": verdict(None if fetch_x is None else fetch_x >= 5)},
    ]

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
        digits = 0 if (unit in ("kB", "us", "conn", "req") or abs(v) >= 100) else (2 if unit in ("x", "ms") else 1)
        return "%s %s" % (num(v, digits), unit)

    def ratio_text(r):
        if r["ratio"] is None:
            return "-"
        if r["ratio_kind"] == "cost":
            return "%s x spawn" % num(r["ratio"], 1)
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
    print("host start-up rows: ours/baseline, the baseline being the cost of spawning a process.")
    print("Targets (printed, not asserted):")
    for t in targets:
        print("  %-88s %-10s %s" % (t["target"], t["figure"], t["verdict"]))
    if profile is not None:
        print()
        print("Profile of `juniper mail process`, 200 mails (--profile):")
        print(profile)


if __name__ == "__main__":
    main()
