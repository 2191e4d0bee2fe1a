#!/usr/bin/env python3
"""Architecture rules of Juniper, checked on the source text (no build needed).

  1. host/ folders include only the folders above them (README "Architecture").
  2. plugins/<module>/ sees the host only through sdk/: never a host/ header.
  3. sdk/include/juniper/sdk/c/*.h is plain C.
  4. No provider name (Outlook, Microsoft, ...) in host code: providers live in plugins/.
  5. No function in host/ longer than 80 lines, unless a comment just above it says why
     ("Long: ...").
  6. No HTML markup in the string literals of host/, plugins/ or examples/: pages come from the
     templates of host/web/templates (escaping by default); a module describes a page
     (sdk::Response::page) and the host renders it. The templates never print a value unescaped
     ({{{x}}} or {{&x}}).

Prints one line per violation and exits 1, or prints "layers ok: N files checked".
--self-test checks each rule against small violating files in a temp folder, so a check
that matches nothing cannot pass unnoticed. Python 3 standard library only.
"""
import argparse
import collections
import os
import re
import sys
import tempfile
from pathlib import Path

# Rule 1. What each host folder may include besides itself. The order is the README's
# (core, db, records, http, protocol clients, modules, mail, app, web, cli), narrowed to what the
# CMake targets link:
# http links only core (it also builds from a scratch project), and the protocol clients
# mail/smtp and mail/imap link only core, mail/mime nothing (host/CMakeLists.txt, mail/*/CMakeLists.txt).
_PROTOCOL = {"mail/smtp", "mail/imap", "mail/mime"}
ALLOWED = {
    "core": set(),
    "db": {"core"},
    "records": {"core", "db"},
    # The C host table offers the HTTP client and the SMTP/IMAP clients to modules.
    "modules": {"core", "db", "records", "http", "mail/smtp", "mail/imap"},
    "http": {"core"},
    "mail/smtp": {"core"},
    "mail/imap": {"core"},
    "mail/mime": set(),
    "mail": {"core", "db", "records", "modules", "http"} | _PROTOCOL,
    "app": {"core", "db", "records", "modules", "http", "mail"} | _PROTOCOL,
    "web": {"core", "db", "records", "modules", "http", "mail", "app"} | _PROTOCOL,
    "cli": {"core", "db", "records", "modules", "http", "mail", "app", "web"} | _PROTOCOL,
}

# Rule 4. Matched as substrings, case-insensitive, in code and string literals (not comments).
PROVIDER_WORDS = ["outlook", "microsoft", "office365", "graph.microsoft", "azure", "gmail", "google"]

Exception_ = collections.namedtuple("Exception_", "rule path snippet reason")
# Code that breaks the README today. Each entry waives one line: `snippet` must occur in that
# line of `path`. An entry that no longer matches anything is itself reported, so the list
# only shrinks.
KNOWN_EXCEPTIONS = [
    # (none today)
]

SOURCE_EXT = {".c", ".cc", ".cpp", ".h", ".hpp"}
# Generated into each module's build folder by juniper_add_module() (its name and version).
GENERATED_MODULE_INFO = "juniper_module_info.h"
Violation = collections.namedtuple("Violation", "rule path line text message")

# C/C++ lexing, just enough to tell code from comments and literals. A number token swallows
# digit separators (1'000) so they are not taken for a character literal.
_TOKEN = re.compile(r"""
    (?P<line>//[^\n]*)
  | (?P<block>/\*.*?(?:\*/|\Z))
  | (?P<raw>\b(?:u8|[uUL])?R"(?P<d>[^()\\\s]{0,16})\(.*?\)(?P=d)")
  | (?P<str>"(?:\\.|[^"\\\n])*")
  | (?P<chr>'(?:\\.|[^'\\\n])*')
  | (?P<num>\b\d(?:'?[\w.])*)
""", re.S | re.X)
_INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]*)[>"]')


def _blank(s):
    return re.sub(r"[^\n]", " ", s)  # keep newlines so line numbers stay right


def lex(text):
    """(code, bare, slash_lines): comments blanked; comments and literal contents blanked;
    lines holding a // comment."""
    code, bare, slash_lines, pos = [], [], [], 0
    for m in _TOKEN.finditer(text):
        kind, tok = m.lastgroup, m.group()  # the outermost group: "raw", not its "d"
        code.append(text[pos:m.start()]); bare.append(text[pos:m.start()])
        if kind in ("line", "block"):
            code.append(_blank(tok)); bare.append(_blank(tok))
            if kind == "line":
                slash_lines.append(text.count("\n", 0, m.start()) + 1)
        elif kind in ("raw", "str", "chr"):
            code.append(tok); bare.append(tok[0] + _blank(tok[1:-1]) + tok[-1])
        else:
            code.append(tok); bare.append(tok)
        pos = m.end()
    code.append(text[pos:]); bare.append(text[pos:])
    return "".join(code), "".join(bare), slash_lines


def includes(code):
    """(line number, '<' or '"', path) of each #include in comment-free code."""
    for n, line in enumerate(code.split("\n"), 1):
        m = _INCLUDE.match(line)
        if m:
            yield n, m.group(1), m.group(2)


def sources(folder):
    return sorted(p for p in folder.rglob("*") if p.suffix in SOURCE_EXT and p.is_file())


def inside(path, folder):
    return os.path.normpath(path).startswith(os.path.normpath(folder) + os.sep)


def layer_of(rel):
    """The ALLOWED key for a path relative to host/ (longest folder prefix), or None."""
    keys = [k for k in ALLOWED if rel.startswith(k + "/")]
    return max(keys, key=len) if keys else None


class Checker:
    def __init__(self, root):
        self.root, self.host, self.files = Path(root), Path(root) / "host", set()

    def read(self, path):
        self.files.add(path)
        text = path.read_text(encoding="utf-8", errors="replace")
        return text.split("\n"), lex(text)

    def violation(self, rule, path, n, lines, message):
        rel = path.relative_to(self.root).as_posix()
        return Violation(rule, rel, n, lines[n - 1], f"{rel}:{n}: {message}")

    def layers(self):
        """Rule 1: a host folder includes only itself and the folders ALLOWED for it."""
        out = []
        for path in sources(self.host):
            lines, (code, _, _) = self.read(path)
            own = layer_of(path.relative_to(self.host).as_posix())
            if own is None:
                out.append(self.violation("layers", path, 1, lines,
                                          "host folder not in the layer table (add it to ALLOWED)"))
                continue
            for n, kind, inc in includes(code):
                if inc.startswith("juniper/sdk/"):
                    continue  # the SDK is not a host layer
                # Quoted includes try the file's own folder first, then host/ (the include path);
                # an angle include naming a host header is the same dependency.
                local = path.parent / inc
                target = local if kind == '"' and local.exists() else self.host / inc
                if kind == "<" and not target.exists():
                    continue  # system or third-party header
                if not inside(target, self.host):
                    out.append(self.violation("layers", path, n, lines, f"includes {inc}: outside host/"))
                    continue
                dep = layer_of(Path(os.path.normpath(target)).relative_to(self.host).as_posix())
                if dep is None:
                    out.append(self.violation("layers", path, n, lines, f"includes {inc}: not a host layer"))
                elif dep != own and dep not in ALLOWED[own]:
                    out.append(self.violation("layers", path, n, lines,
                                              f"includes {inc}: {own} may not depend on {dep}"))
        return out

    def plugins(self):
        """Rule 2: a module includes its own folder, <juniper/sdk/...> and system headers only."""
        out = []
        # examples/ are modules too (built out of tree): the same rule.
        folders = [p for top in ("plugins", "examples") for p in (self.root / top).glob("*") if p.is_dir()]
        for folder in sorted(folders):
            for path in sources(folder):
                lines, (code, _, _) = self.read(path)
                for n, kind, inc in includes(code):
                    local = path.parent / inc
                    if kind == '"' and inside(local, folder) and local.exists():
                        continue
                    if inc.startswith("juniper/sdk/") or inc == GENERATED_MODULE_INFO:
                        continue
                    to_host = (self.host / inc).exists() or inside(local, self.host)
                    if to_host:
                        out.append(self.violation("plugins", path, n, lines,
                                                  f"includes {inc}: a host header; modules see the host only through sdk/"))
                    elif kind == '"':
                        out.append(self.violation("plugins", path, n, lines,
                                                  f"includes {inc}: not in {folder.parent.name}/{folder.name}/ nor sdk/include"))
        return out

    def c_headers(self):
        """Rule 3: the C contract compiles as C: C headers only, no C++ constructs, /* */ comments."""
        out = []
        folder = self.root / "sdk/include/juniper/sdk/c"
        for path in sorted(folder.glob("*.h")):
            lines, (code, bare, slash_lines) = self.read(path)
            for n, kind, inc in includes(code):
                if kind == "<" and not inc.endswith(".h"):
                    out.append(self.violation("c", path, n, lines, f"includes <{inc}>: a C++ header in the C contract"))
                elif kind == '"' and not (folder / inc).exists():
                    out.append(self.violation("c", path, n, lines, f'includes "{inc}": not a header of sdk/.../c/'))
            for n in slash_lines:
                out.append(self.violation("c", path, n, lines, "// comment: the C headers use /* */ only"))
            for n, line in enumerate(bare.split("\n"), 1):
                m = re.search(r"\b(namespace|class|template)\b|\bstd::", line)
                if m:
                    out.append(self.violation("c", path, n, lines, f"'{m.group()}': C++ in the C contract"))
        return out

    def lengths(self):
        """Rule 5: host functions stay short, or say why not (a "Long:" comment above them)."""
        out = []
        for path in sources(self.host):
            if path.suffix != ".cpp":
                continue
            lines, (_, bare, _) = self.read(path)
            for first, last in function_bodies(bare):
                if last - first + 1 <= MAX_FUNCTION_LINES:
                    continue
                above = "\n".join(lines[max(0, first - 5):first])
                if re.search(r"//.*\bLong:", above):
                    continue
                out.append(self.violation("length", path, first, lines,
                                          f"function of {last - first + 1} lines (over {MAX_FUNCTION_LINES}): split it, "
                                          "or say why above it (// Long: ...)"))
        return out

    def markup(self):
        """Rule 6: no page built by string concatenation in C++: no HTML tag in a literal."""
        out = []
        roots = [self.host] + [p for top in ("plugins", "examples") for p in (self.root / top).glob("*") if p.is_dir()]
        for folder in roots:
            for path in sources(folder):
                lines, (code, bare, _) = self.read(path)
                for m in _TOKEN.finditer(code):
                    if m.lastgroup not in ("str", "raw"):
                        continue
                    tag = _HTML_TAG.search(m.group())
                    if tag:
                        n = code.count("\n", 0, m.start()) + 1
                        out.append(self.violation("markup", path, n, lines,
                                                  f"HTML '{tag.group()}' in a string: pages come from host/web/templates"))
        for path in sorted((self.host / "web/templates").glob("*.mustache")):
            lines, _ = self.read(path)
            for n, line in enumerate(lines, 1):
                if "{{{" in line or "{{&" in line:
                    out.append(self.violation("markup", path, n, lines, "an unescaped value ({{{ or {{&) in a template"))
        return out

    def providers(self):
        """Rule 4: the host is provider-neutral; provider names only in comments."""
        out = []
        pattern = re.compile("|".join(re.escape(w) for w in PROVIDER_WORDS), re.I)
        for path in sources(self.host):
            if path.suffix not in (".cpp", ".hpp"):
                continue
            lines, (code, _, _) = self.read(path)
            for n, line in enumerate(code.split("\n"), 1):
                m = pattern.search(line)
                if m:
                    out.append(self.violation("provider", path, n, lines,
                                              f"names '{m.group()}': provider names belong in plugins/"))
        return out


MAX_FUNCTION_LINES = 80
_HTML_TAG = re.compile(r"</?(!doctype|html|head|body|p|div|a|span|form|input|table|thead|tbody|tr|td|th|h[1-6]|ul|ol|li|"
                       r"label|select|option|textarea|button|script|style|nav|section|fieldset|legend|output|time|iframe|"
                       r"small|strong|em|pre|article|dl|dt|dd|br|hr|img|meta|title|main|header|footer)[\s>/]", re.I)
_CONTROL = re.compile(r"^(if|for|while|switch|catch|do|else|try|namespace|class|struct|union|enum|extern)\b")
_FUNCTION_END = re.compile(r"\)\s*(const\s*)?(noexcept\s*)?(override\s*|final\s*)?(->\s*[\w:<>,\s*&]+)?$")


def opens_function(head):
    """Whether the code between the last ; { or } and a { opens a function body (a constructor's
    initialisers included), not a control block, a type or a lambda kept in a variable."""
    flat = re.sub(r"\s+", " ", head).strip()
    if "(" not in flat or _CONTROL.match(flat):
        return False
    outside = flat
    for _ in range(3):  # what is outside the parentheses, nested three deep
        outside = re.sub(r"\([^()]*\)", "()", outside)
    return "=" not in outside.replace("==", "") and _FUNCTION_END.search(flat) is not None


def function_bodies(bare):
    """(first line, last line) of each outermost function body in comment- and literal-free code."""
    depth, opened, head_start, out = 0, None, 0, []
    for i, ch in enumerate(bare):
        if ch not in ";{}":
            continue
        if ch == "{":
            if opened is None and opens_function(bare[head_start:i]):
                opened = (depth, bare.count("\n", 0, i) + 1)
            depth += 1
        elif ch == "}":
            depth -= 1
            if opened is not None and depth == opened[0]:
                out.append((opened[1], bare.count("\n", 0, i) + 1))
                opened = None
        head_start = i + 1
    return out


def find(root):
    """(violations, number of files read)."""
    c = Checker(root)
    return c.layers() + c.plugins() + c.c_headers() + c.providers() + c.lengths() + c.markup(), len(c.files)


def waive(violations, exceptions):
    """Messages of the violations no exception covers, plus the exceptions nothing matched."""
    used, messages = set(), []
    for v in violations:
        waiver = next((e for e in exceptions
                       if (e.rule, e.path) == (v.rule, v.path) and e.snippet in v.text), None)
        if waiver:
            used.add(waiver)
        else:
            messages.append(v.message)
    for e in exceptions:
        if e not in used:
            messages.append(f"{e.path}: stale KNOWN_EXCEPTIONS entry ({e.rule}, {e.snippet}): "
                            "nothing matches it any more, remove it")
    return messages


# --self-test: a clean tree (with comments, URLs and literals that must not trip the lexer),
# then one violating file at a time, each of which must give exactly the expected message.
CLEAN = {
    "host/core/log.hpp": '#pragma once\n// Outlook in a comment is fine\n'
                         'const char* url = "https://example.com//a"; /* Azure */\n'
                         "int n = 1'000; // it's Outlook's\n"
                         "char q = '\"'; /* \" Outlook */\n"
                         'const char* r = R"x(a")x"; /* "Outlook */\n',
    "host/mail/smtp/session.hpp": '#include "core/log.hpp"\n#include <string>\n',
    "host/web/page.hpp": '#include "core/log.hpp"\n#include "mail/smtp/session.hpp"\n',
    "plugins/demo/mod.hpp": "#pragma once\n",
    "plugins/demo/mod.cpp": '#include "mod.hpp"\n#include <juniper/sdk/module.hpp>\n#include <string>\n',
    "sdk/include/juniper/sdk/c/ok.h": "/* C only; a class of its own, see https://x//y */\n"
                                      '#include <stdint.h>\ntypedef struct { int32_t size; } ok; /* namespace */\n',
}
CASES = [
    ("host/core/bad.cpp", '#include "web/page.hpp"\n', "bad.cpp:1: includes web/page.hpp: core may not depend on web"),
    ("host/mail/smtp/bad.cpp", '\n#include "mail/queue.hpp"\n', "bad.cpp:2: includes mail/queue.hpp: mail/smtp may not depend on mail"),
    ("host/core/bad.cpp", "#include <web/page.hpp>\n", "core may not depend on web"),
    ("host/extra/x.cpp", "int x;\n", "host/extra/x.cpp:1: host folder not in the layer table"),
    ("plugins/demo/bad.cpp", '#include "core/log.hpp"\n', "plugins/demo/bad.cpp:1: includes core/log.hpp: a host header"),
    ("plugins/demo/bad.cpp", '#include "../../host/core/log.hpp"\n', "a host header"),
    ("sdk/include/juniper/sdk/c/bad.h", "#include <cstdint>\n", "bad.h:1: includes <cstdint>: a C++ header"),
    ("sdk/include/juniper/sdk/c/bad.h", "/* x */\nnamespace x {}\n", "bad.h:2: 'namespace': C++"),
    ("sdk/include/juniper/sdk/c/bad.h", "typedef int a; // note\n", "bad.h:1: // comment"),
    ("host/web/bad.cpp", 'auto u = "http://x"; auto k = "Outlook";\n', "bad.cpp:1: names 'Outlook'"),
    ("host/core/bad.cpp", "int OFFICE365_limit = 1; // fine\n", "names 'OFFICE365'"),
    ("host/web/bad.cpp", '// <p> in a comment is fine\nauto p = "a < b";\nauto h = "<p class=\\"x\\">" + s;\n',
     "bad.cpp:3: HTML '<p ' in a string"),
    ("plugins/demo/bad.cpp", 'auto h = R"(<h1>Done</h1>)";\n', "bad.cpp:1: HTML '<h1>' in a string"),
    ("host/web/templates/bad.mustache", "<p>{{ok}}</p>\n<p>{{{body}}}</p>\n", "bad.mustache:2: an unescaped value"),
    ("host/core/long.cpp", "namespace a {\nint f(int x) {\n" + "  x += 1;\n" * 80 + "  return x;\n}\n}\n",
     "long.cpp:2: function of 83 lines"),
    ("host/core/long.cpp", "// Long: says why.\nstruct S { int f(int x) const {\n" + "  x += 1;\n" * 80 + "  return x;\n}\n};\n"
     "int g() {\n" + "  if (true) {\n  }\n" * 41 + "  return 0;\n}\n", "long.cpp:86: function of 85 lines"),
]


def self_test():
    def tree(files):
        d = tempfile.TemporaryDirectory()
        for rel, text in files.items():
            (Path(d.name) / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(d.name) / rel).write_text(text)
        return d

    failures = []
    with tree(CLEAN) as d:
        found, count = find(d)
        if found or count != len(CLEAN):
            failures.append(f"clean tree: {[v.message for v in found]} ({count} files)")
    if not waive([], [Exception_("layers", "host/core/log.hpp", "x", "unused")]):
        failures.append("an unused exception is not reported")
    for rel, text, expected in CASES:
        with tree({**CLEAN, rel: text}) as d:
            found = find(d)[0]
        if len(found) != 1 or expected not in found[0].message:
            failures.append(f"{rel} {text!r}: expected [{expected}], got {[v.message for v in found]}")
        elif waive(found, [Exception_(found[0].rule, found[0].path, found[0].text.strip(), "test")]):
            failures.append(f"{rel}: a matching exception does not waive it")
    for f in failures:
        print("self-test FAILED:", f)
    if not failures:
        print(f"self-test ok: a clean tree and {len(CASES)} violations caught")
    return not failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=Path(__file__).resolve().parents[2], help="project root")
    ap.add_argument("--self-test", action="store_true", help="check the checks on synthetic violations")
    args = ap.parse_args()
    if args.self_test:
        return 0 if self_test() else 1
    found, count = find(args.root)
    messages = waive(found, KNOWN_EXCEPTIONS)
    for m in messages:
        print(m)
    if messages:
        print(f"layers FAILED: {len(messages)} violation(s) in {count} files checked")
        return 1
    print(f"layers ok: {count} files checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
