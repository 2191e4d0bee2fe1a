"""Top functions of a callgrind profile, for bench/run --profile.

  callgrind_top.py CALLGRIND_OUT [N]

Prints the N (10) functions with the most instructions of their own (self), then the N project
functions (host/, plugins/) with the most instructions including callees (inclusive), as text.
"""
import re
import subprocess
import sys

LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)$")


def entries(path, inclusive):
    args = ["callgrind_annotate", "--auto=no", "--threshold=100", "--inclusive=" + ("yes" if inclusive else "no"), path]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    total, rows = None, []
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        ir, pct, what = int(m.group(1).replace(",", "")), float(m.group(2)), m.group(3)
        if "PROGRAM TOTALS" in what:
            total = ir
            continue
        rows.append((ir, pct, what))
    return total, rows


def short(what):
    obj = ""
    m = re.search(r"\s\[([^\]]+)\]$", what)
    if m:
        obj = m.group(1).rsplit("/", 1)[-1]
        what = what[:m.start()]
    fn = what.split(":", 1)[1] if ":" in what else what
    fn = re.sub(r"\s\(\d+x\)$", "", fn.strip()).replace("(anonymous namespace)", "{anon}")
    # drop template arguments and parameter lists, keep the qualified name
    depth, out = 0, []
    for ch in fn:
        if ch in "<(":
            if depth == 0:
                out.append("<>" if ch == "<" else "()")
            depth += 1
        elif ch in ">)":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    fn = "".join(out).replace("std::__cxx11::", "std::").replace("[abi:cxx11]", "")
    if fn.startswith("0x") or fn.startswith("???"):
        fn = "(no symbol)"
    return "%s  [%s]" % (fn, obj) if obj and obj != "juniper" else fn


def main():
    path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    total, self_rows = entries(path, False)
    print("callgrind: %s instructions in total" % "{:,}".format(total or 0).replace(",", " "))
    print("top %d functions by own instructions (self; inlined parts merged):" % n)
    merged = {}
    for ir, pct, what in self_rows:
        merged[short(what)] = merged.get(short(what), 0.0) + pct
    for name, pct in sorted(merged.items(), key=lambda kv: -kv[1])[:n]:
        print("  %5.1f%%  %s" % (pct, name))
    _, incl = entries(path, True)
    project = [r for r in incl if ("/host/" in r[2] or "/plugins/" in r[2]) and "/cli/" not in r[2]]
    print("top %d project functions including callees (inclusive):" % n)
    seen = set()
    for ir, pct, what in project:
        if short(what) in seen:
            continue
        seen.add(short(what))
        print("  %5.1f%%  %s" % (pct, short(what)))
        if len(seen) == n:
            break


if __name__ == "__main__":
    main()
