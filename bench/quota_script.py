"""The quota script alone, pipelined on a Redis, with the arguments nginx
sends (packed as ngsp_quota_command() packs them: a binary string, which
redis-benchmark's command line cannot carry).

  quota_script.py PORT SCRIPT_FILE WINDOWS MODE [N AGENCIES]

SCRIPT_FILE: a .lua file, or ngsp_quota_script.c (its C string read as the
compiler would).  The script's first line names its argument layout:
"-- ngsp quota v7" (one key per window, bench/quota-v7.lua, kept for the
comparison only) or v8 (one state key); any other script (a floor) gets
v8's.  WINDOWS: "s:20,m:1000,d:50000".
MODE usec: flush, N EVALSHA (pipelined 64 deep) spread over AGENCIES
agencies, print Redis's usec_per_call.  MODE calls: the same, no flush,
print nothing (for callgrind, which counts what Redis ran)."""

import ast
import struct
import sys

import redis

UNITS = ["s", "m", "h", "d", "mo"]


def script_text(path):
    if path.endswith(".lua"):
        return open(path, encoding="utf-8").read()
    out, inside = [], False
    for line in open(path, encoding="utf-8"):
        s = line.strip()
        if s.startswith("const char  ngsp_quota_script[] ="):
            inside = True
            continue
        if inside:
            if not s.startswith('"'):
                break
            out.append(ast.literal_eval(s.rstrip(";")))
            if s.endswith(";"):
                break
    return "".join(out)


def command(text, windows, tag):
    """keys and arguments of one decision, in the script's layout"""
    n = len(windows)
    fields = ["bench:%s" % UNITS[u] for u, _ in windows]
    if text.startswith("-- ngsp quota v7"):
        keys = ["ngsp:{%s}:limits" % tag] + [
            "ngsp:{%s}:q:bench:%s" % (tag, UNITS[u]) for u, _ in windows]
        nums = [25200, 0]
        for u, lim in windows:
            nums += [u, lim]
        return keys, [struct.pack("<%dd" % len(nums), *nums),
                      "<" + "d" * (2 + 2 * n),
                      "<" + "d" * (2 + 5 * n)] + fields
    shape = 0
    for u, _ in windows:
        shape = shape * 8 + u + 1
    keys = ["ngsp:{%s}:limits" % tag, "ngsp:{%s}:q:bench" % tag]
    nums = [25200, 0, shape]
    for u, lim in windows:
        nums += [u, lim]
    return keys, [struct.pack("<%dd" % len(nums), *nums),
                  "<" + "d" * (3 + 2 * n), "<" + "d" * (5 + 2 * n)] + fields


def main():
    port, path, spec, mode = sys.argv[1:5]
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 20000
    agencies = int(sys.argv[6]) if len(sys.argv) > 6 else 2000
    windows = [(UNITS.index(u), int(lim)) for u, lim in
               (w.split(":") for w in spec.split(","))]
    rc = redis.Redis(port=int(port))
    text = script_text(path)
    sha = rc.script_load(text)
    cmds = [command(text, windows, "ag%d" % a) for a in range(agencies)]
    if mode == "usec":
        rc.flushall()
        rc.config_resetstat()
    p = rc.pipeline(transaction=False)
    for i in range(n):
        keys, args = cmds[i % agencies]
        p.evalsha(sha, len(keys), *keys, *args)
        if i % 64 == 63:
            p.execute()
    p.execute()
    if mode == "usec":
        print(rc.info("commandstats")["cmdstat_evalsha"]["usec_per_call"])


if __name__ == "__main__":
    main()
