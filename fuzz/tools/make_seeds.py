#!/usr/bin/env python3
"""fuzz/tools/make_seeds.py -- regenerates fuzz/corpus/<harness>/ seeds and
fuzz/rulesets/ from the project's fixtures, examples/ and the Ordo sample
(../shared/conformance/ordo-sample).  Run from anywhere; overwrites
seed-* files only (libFuzzer's own corpus additions are not checked in).

  python3 fuzz/tools/make_seeds.py
"""
import glob, hashlib, json, os, random, re, struct

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.join(ROOT, "..", "shared", "conformance", "ordo-sample")
if not os.path.isdir(SHARED):
    SHARED = "/work/shared/conformance/ordo-sample"
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
MAX_SEED = 8192  # bytes: small seeds fuzz faster


def dump(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def write(harness, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_SEED:
        return
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def jsonl(path):
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line:
            out.append(json.loads(line))
    return out


def test_file(path):
    """spec/fixtures/*.test: '# id' / expression / context / expected."""
    cases, block = [], []
    for line in open(path, encoding="utf-8").read().split("\n"):
        if line.startswith("# "):
            if len(block) >= 2:
                cases.append((block[0], block[1]))
            block = []
        elif line.strip():
            block.append(line)
    if len(block) >= 2:
        cases.append((block[0], block[1]))
    return cases


def main():
    for old in glob.glob(os.path.join(CORPUS, "*", "seed-*")):
        os.remove(old)
    exprs, contexts = [], []
    for t in glob.glob(os.path.join(ROOT, "spec", "fixtures", "*.test")):
        for e, c in test_file(t):
            exprs.append((e, c))
            contexts.append(c)
    for path in (os.path.join(ROOT, "spec/fixtures/corpus/expressions.jsonl"),
                 os.path.join(SHARED, "expressions.jsonl")):
        for case in jsonl(path):
            c = dump(case.get("ctx", {}))
            exprs.append((case["expr"], c))
            contexts.append(c)
    for e, c in exprs:
        write("expr", e.encode() + b"\0" + c.encode())

    # rulesets: examples, gavel's corpus, the Ordo sample, load errors
    rulesets = []  # (name, doc, [inputs])
    for p in sorted(glob.glob(os.path.join(ROOT, "examples", "*.json"))):
        if re.search(r"\.(input|expected)\.json$", p):
            continue
        doc = json.load(open(p))
        inp = p[:-5] + ".input.json"
        ins = [json.load(open(inp))] if os.path.exists(inp) else [{}]
        rulesets.append(("example-" + os.path.basename(p), doc, ins))
    for p in sorted(glob.glob(os.path.join(ROOT, "spec/fixtures/corpus/rulesets/*.json")) +
                    sorted(glob.glob(os.path.join(SHARED, "rulesets", "*.json")))):
        doc = json.load(open(p))
        ins = [c.get("input", {}) for c in doc.get("cases", [])] or [{}]
        rulesets.append((os.path.basename(p), doc["ruleset"], ins))
    for name, doc, ins in rulesets:
        text = dump(doc)
        write("ruleset_struct", text)
        for i in ins[:3]:
            write("ruleset", text.encode() + b"\0" + dump(i).encode())
            write("input", dump(i))
            contexts.append(dump(i))
    for case in jsonl(os.path.join(ROOT, "spec/fixtures/load_errors.jsonl")):
        text = case["text"] if "text" in case else dump(case["doc"])
        write("ruleset", text)
        if "doc" in case:
            write("ruleset_struct", text)

    # JSON reader: every context, plus edge documents
    edges = ["0", "-0", "1.5e-7", "9223372036854775807", "-9223372036854775808",
             "9223372036854775808", "18446744073709551615", "18446744073709551616",
             "1e308", "1e400", "\"\\u0000\"", "\"\\ud83d\\ude00\"", "\"\\ud800\"",
             "\"\u00e9\"", "[]", "{}", "[[[[]]]]", "{\"a\":{\"a\":{}}}",
             "{\"a\":1,\"a\":2}", " \t\r\n[1 , 2 ] ", "true", "false", "null",
             "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"", "[1,2,3,4,5,6,7,8,9,10]",
             "[" * 511 + "]" * 511]
    for c in contexts + edges:
        write("json", c)

    # the fixed rulesets of fuzz_input and fuzz_lua_binder
    rsdir = os.path.join(ROOT, "fuzz", "rulesets")
    os.makedirs(rsdir, exist_ok=True)
    keep = {"example-discount.json", "example-loan.json", "example-score.json",
            "example-subrule.json", "extensions.json", "fused_decision.json",
            "lenient.json", "loop_trace.json", "exec_errors.json",
            "metric_sink.json", "capability_external_call_object_payload.json",
            "compiled_complex_values.json", "template_ecommerce_coupon.json",
            "regress_call_rule_set_whole_input.json"}
    for name, doc, ins in rulesets:
        if name in keep:
            with open(os.path.join(rsdir, name.replace("example-", "")), "w") as f:
                f.write(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")

    # Lua binder: random programs for the table stack machine
    rng = random.Random(8)
    for _ in range(40):
        n = rng.randrange(4, 120)
        write("lua_binder", bytes(rng.randrange(256) for _ in range(n)))
    # a few structured ones: {o = {p = {q = 1}}, l = {1, 2}}, strings
    write("lua_binder", bytes([6, 6, 1, 2, 8, 4, 7, 8, 3, 7, 8, 1]))
    write("lua_binder", bytes([6, 0, 129, 10, 0, 130, 10, 7, 8, 2]))
    write("lua_binder", bytes([2, 5]) + b"h\xc3\xa9\xff!" + bytes([8, 0]))


def dicts():
    """fuzz/dict/*.dict: Ordo keywords and operators, builtin names (from the
    builtin tables in core/), ruleset fields (from core/load.c), JSON."""
    ddir = os.path.join(ROOT, "fuzz", "dict")
    os.makedirs(ddir, exist_ok=True)
    src = ""
    for p in ("core/builtins.c", "core/builtins_ext.c"):
        src += open(os.path.join(ROOT, p)).read()
    builtins = sorted(set(re.findall(r'^\s+\{"([a-z_0-9]+)", -?\d+, -?\d+', src, re.M)))
    keywords = ["true", "false", "null", "if", "then", "else", "exists",
                "coalesce", "or", "and", "not", "contains", "in", "data.", "item",
                "_index", "$"]
    ops = ["&&", "||", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%",
           "!", "?", ":", "(", ")", "[", "]", "{", "}", ",", ".", ".*", "[0]",
           "'", "\"", "\\u0000", "9223372036854775807", "9223372036854775808",
           "1e308", "-1", "0.5"]
    load = open(os.path.join(ROOT, "core/load.c")).read()
    fields = sorted(set(re.findall(r'"([a-z_]+)"', load)))

    def esc(s):  # libFuzzer dictionary escapes: \\ \" \xHH
        b = s if isinstance(s, bytes) else s.encode("utf-8")
        return "".join(chr(c) if 32 <= c < 127 and c not in (34, 92)
                       else "\\x%02x" % c for c in b)

    def out(name, header, items):
        with open(os.path.join(ddir, name), "w") as f:
            f.write("# " + header + " (generated by fuzz/tools/make_seeds.py)\n")
            for i in items:
                f.write('"%s"\n' % esc(i))
    out("expr.dict", "Ordo expressions: keywords, operators, builtins",
        keywords + ops + [b + "(" for b in builtins])
    json_items = ["{", "}", "[", "]", ":", ",", "\"", "true", "false", "null",
                  "\\u", "\\ud800", "\\udc00", "\\\\", "\\\"", "-0", "1e", "E+",
                  ".5", "9223372036854775808", "18446744073709551615", "1e400",
                  b"\xc3\xa9", b"\xf0\x9f\x98\x80", b"\xed\xa0\x80", b"\xff"]
    out("json.dict", "JSON tokens and edge numbers", json_items)
    out("ruleset.dict", "ruleset fields, step types, actions, expressions",
        ['"%s"' % f for f in fields] + ['"%s":' % f for f in fields] + json_items[:10]
        + keywords + [b + "(" for b in builtins]
        + ['"condition":null', '"action":""', '"gas_limit":9223372036854775807',
           '"timeout_ms":0', '"max_depth":9223372036854775807',
           '"value":"[[[$v]]]"', '"next_step":"', '"service":"geo.lookup"',
           '"service":"test.sync"'])


if __name__ == "__main__":
    main()
    dicts()
