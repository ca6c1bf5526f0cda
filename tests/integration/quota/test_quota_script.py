"""The quota script run directly in Redis with a fixed clock (its third
argument), against Python's own calendar: window names, lengths and
expiry at local boundaries, month and year ends, leap years, offsets;
GCRA timing to the microsecond."""

import ast
import datetime
import os
import struct

import pytest

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "ngx_module",
                   "quota", "ngsp_quota_script.c")


def script_text():
    """The C string literal, read the way the compiler would."""
    out, inside = [], False
    for line in open(SRC, encoding="utf-8"):
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


@pytest.fixture(scope="module")
def lua():
    return script_text()


@pytest.fixture
def rc(redis_factory):
    return redis_factory().client()


UNITS = ["s", "m", "h", "d", "mo"]


def run(rc, lua, now_us, windows, tag="t", policy="p", off=7 * 3600):
    """The arguments packed as ngsp_quota_command() packs them (written
    here again from the script's contract, not taken from the C code)."""
    keys = ["ngsp:{%s}:limits" % tag] + [
        "ngsp:{%s}:q:%s:%s" % (tag, policy, u) for u, _ in windows]
    n = len(windows)
    nums = [off, now_us]
    for u, lim in windows:
        nums += [UNITS.index(u), lim]
    args = [struct.pack("<%dd" % len(nums), *nums), "<" + "d" * (2 + 2 * n),
            "<" + "d" * (2 + 5 * n)] + ["%s:%s" % (policy, u)
                                        for u, _ in windows]
    raw = rc.eval(lua, len(keys), *keys, *args)
    assert isinstance(raw, bytes) and len(raw) == 8 * (2 + 5 * n)
    r = [int(v) for v in struct.unpack("<%dd" % (2 + 5 * n), raw)]
    assert r == list(struct.unpack("<%dd" % (2 + 5 * n), raw))
    out = {"allowed": r[0], "retry": r[1], "windows": []}
    for i in range(n):
        limit, rem, reset, width = r[2 + 4 * i: 6 + 4 * i]
        # an override ignored: its length + 1
        ignored = r[2 + 4 * n + i]
        out["windows"].append(dict(limit=limit, remaining=rem, reset=reset,
                                   width=width, ignored=ignored))
    return out


def ts(y, m, d, hh=0, mm=0, ss=0, off=7 * 3600):
    """Local wall time at offset `off` -> Unix seconds."""
    return int((datetime.datetime(y, m, d, hh, mm, ss)
                - datetime.datetime(1970, 1, 1)).total_seconds()) - off


def next_month(y, m):
    return (y + 1, 1) if m == 12 else (y, m + 1)


# future instants, so that keys outlive the test and EXPIRETIME shows them
CASES = [
    (2031, 12, 31, 23, 59, 59, 7 * 3600),
    (2032, 1, 1, 0, 0, 0, 7 * 3600),
    (2032, 2, 28, 23, 30, 0, 7 * 3600),       # leap year: Feb has 29 days
    (2032, 2, 29, 12, 0, 0, 7 * 3600),
    (2033, 2, 28, 6, 59, 59, 7 * 3600),
    (2100, 2, 28, 23, 0, 0, 7 * 3600),        # not a leap year
    (2030, 6, 30, 16, 59, 59, 0),
    (2030, 7, 1, 0, 0, 0, -(3 * 3600 + 1800)),
    (2030, 3, 31, 23, 59, 0, 5 * 3600 + 2700),
    (2035, 11, 25, 22, 42, 7, 7 * 3600),
]


@pytest.mark.parametrize("case", CASES)
def test_calendar_windows(rc, lua, case):
    y, m, d, hh, mm, ss, off = case
    now = ts(y, m, d, hh, mm, ss, off)
    r = run(rc, lua, now * 1000000 + 250000, [("h", 5), ("d", 5), ("mo", 5)],
            off=off, tag="c%d" % now)
    assert r["allowed"] == 1
    h_end = ts(y, m, d, hh, 0, 0, off) + 3600
    d_end = ts(y, m, d, 0, 0, 0, off) + 86400
    ny, nm = next_month(y, m)
    mo_start, mo_end = ts(y, m, 1, 0, 0, 0, off), ts(ny, nm, 1, 0, 0, 0, off)
    h, dd, mo = r["windows"]
    assert (h["width"], h["reset"], h["remaining"]) == (3600, h_end - now, 4)
    assert (dd["width"], dd["reset"]) == (86400, d_end - now)
    assert (mo["width"], mo["reset"]) == (mo_end - mo_start, mo_end - now)
    t = "c%d" % now
    expect = {
        "ngsp:{%s}:q:p:h:%04d%02d%02d%02d" % (t, y, m, d, hh): h_end,
        "ngsp:{%s}:q:p:d:%04d%02d%02d" % (t, y, m, d): d_end,
        "ngsp:{%s}:q:p:mo:%04d%02d" % (t, y, m): mo_end,
    }
    got = {k.decode(): rc.execute_command("EXPIRETIME", k)
           for k in rc.keys("ngsp:{%s}:q:*" % t)}
    assert got == expect


def test_calendar_counts_and_rejects_without_writing(rc, lua):
    now = ts(2034, 5, 6, 7, 8, 9) * 1000000
    for left in (1, 0):
        r = run(rc, lua, now, [("d", 2)])
        assert r["allowed"] == 1 and r["windows"][0]["remaining"] == left
    r = run(rc, lua, now, [("d", 2)])
    assert (r["allowed"], r["windows"][0]["remaining"]) == (0, 0)
    d_end = ts(2034, 5, 7)
    assert r["retry"] == d_end - now // 1000000
    assert rc.get("ngsp:{t}:q:p:d:20340506") == b"2"
    # the next local day is a new window
    r = run(rc, lua, d_end * 1000000, [("d", 2)])
    assert r["allowed"] == 1


def test_all_windows_must_admit(rc, lua):
    now = ts(2034, 5, 6, 7, 8, 9) * 1000000
    w = [("s", 100), ("h", 1), ("d", 10)]
    assert run(rc, lua, now, w)["allowed"] == 1
    r = run(rc, lua, now + 1000, w)
    assert r["allowed"] == 0
    # nothing written by the rejected call: the day counter stays at 1
    assert rc.get("ngsp:{t}:q:p:d:20340506") == b"1"
    assert r["windows"][2]["remaining"] == 9
    assert r["windows"][1]["remaining"] == 0


def test_gcra_burst_spacing_and_retry(rc, lua):
    t0 = ts(2034, 1, 1) * 1000000
    w = [("s", 5)]
    for i in range(5):
        r = run(rc, lua, t0, w)
        assert r["allowed"] == 1 and r["windows"][0]["remaining"] == 4 - i
    r = run(rc, lua, t0, w)
    assert r["allowed"] == 0 and r["retry"] == 1
    tat = rc.get("ngsp:{t}:q:p:s")
    assert run(rc, lua, t0 + 199999, w)["allowed"] == 0
    assert rc.get("ngsp:{t}:q:p:s") == tat        # rejections write nothing
    assert run(rc, lua, t0 + 200000, w)["allowed"] == 1
    assert run(rc, lua, t0 + 200001, w)["allowed"] == 0
    # one second after the burst, the whole burst is back
    assert [run(rc, lua, t0 + 1400000, w)["allowed"] for _ in range(6)] == \
        [1, 1, 1, 1, 1, 0]


def test_gcra_edge_burst_never_twice_the_rate(rc, lua):
    """4r/s: a burst at .99 and another at 1.01 pass 4 in all (a fixed
    window would pass 8).  Driven hard, GCRA admits a full burst, then one
    request per 1/4 s: any one-second span holds at most 2 x 4 - 1."""
    t0 = ts(2034, 1, 1) * 1000000
    w = [("s", 4)]
    first = [run(rc, lua, t0 + 990000, w)["allowed"] for _ in range(4)]
    second = [run(rc, lua, t0 + 1010000, w)["allowed"] for _ in range(4)]
    assert sum(first) == 4 and sum(second) == 0
    # drive it hard for 3 s in 10 ms steps
    times = []
    for k in range(300):
        now = t0 + 2000000 + k * 10000
        if run(rc, lua, now, w)["allowed"]:
            times.append(now)
    for i, t in enumerate(times):
        assert len([u for u in times[i:] if u < t + 1000000]) <= 7
        assert len([u for u in times[i:] if u < t + 10000]) <= 4
    assert 4 + 11 <= len(times) <= 4 + 12      # 4/s after the burst


def test_minute_window_and_overrides(rc, lua):
    t0 = ts(2034, 1, 1) * 1000000
    w = [("m", 2), ("d", 100)]
    assert run(rc, lua, t0, w)["windows"][0]["width"] == 60
    assert run(rc, lua, t0, w)["allowed"] == 1
    assert run(rc, lua, t0, w)["allowed"] == 0
    rc.hset("ngsp:{t}:limits", "p:m", 3)
    r = run(rc, lua, t0, w)
    assert r["allowed"] == 1 and r["windows"][0]["limit"] == 3
    rc.hset("ngsp:{t}:limits", "p:d", 3)
    r = run(rc, lua, t0 + 60000000, w)
    assert r["allowed"] == 0 and r["windows"][1]["limit"] == 3
    rc.hdel("ngsp:{t}:limits", "p:d")
    assert run(rc, lua, t0 + 60000000, w)["allowed"] == 1
    # another policy's override does not apply
    rc.hset("ngsp:{t}:limits", "other:m", 0)
    assert run(rc, lua, t0 + 120000000, w)["allowed"] == 1


def test_script_uses_redis_time_when_no_clock_given(rc, lua):
    sec, usec = rc.time()
    r = run(rc, lua, 0, [("d", 5)])
    loc = datetime.datetime.utcfromtimestamp(sec + 7 * 3600)
    assert rc.exists("ngsp:{t}:q:p:d:" + loc.strftime("%Y%m%d"))
    end = ((sec + 7 * 3600) // 86400 + 1) * 86400 - 7 * 3600
    assert abs(r["windows"][0]["reset"] - (end - sec)) <= 1


def test_gcra_bucket_ttl_set_once_a_window(rc, lua):
    """A bucket's TTL is two windows, renewed only when one has passed
    since it was set: every write leaves at least a window to live."""
    t0 = ts(2034, 1, 1) * 1000000
    w = [("s", 100)]
    key = "ngsp:{t}:q:p:s"

    def state():
        return struct.unpack("<ddd", rc.get(key))

    assert run(rc, lua, t0, w)["allowed"] == 1
    assert state() == (1.0, t0, t0)
    assert 1900 < rc.pttl(key) <= 2000
    rc.pexpire(key, 1500)                 # marks the TTL as not renewed
    assert run(rc, lua, t0 + 500000, w)["allowed"] == 1
    level, last, since = state()
    assert (level, last, since) == (1.0, t0 + 500000, t0)  # drained, +1
    assert 1400 < rc.pttl(key) <= 1500    # kept
    assert run(rc, lua, t0 + 1000000, w)["allowed"] == 1
    assert state()[2] == t0 + 1000000
    assert 1900 < rc.pttl(key) <= 2000    # renewed a window later
    # a state of another shape (an older version's) is a fresh bucket
    rc.set(key, b"1.000000 2000000000000000")
    r = run(rc, lua, t0 + 1000001, w)
    assert r["allowed"] == 1 and r["windows"][0]["remaining"] == 99


@pytest.mark.parametrize("bad", [
    (float("nan"), 0.0, 0.0), (1.0, float("nan"), 0.0),
    (1.0, 0.0, float("nan")), (float("inf"), 0.0, 0.0),
    (-5.0, 0.0, 0.0), (1e300, 0.0, 0.0)])
def test_gcra_bucket_of_garbage_is_fresh(rc, lua, bad):
    """A bucket holding what the script never writes (NaN, infinities,
    negative or absurd levels) counts as empty: admitted, counted once,
    never an error nor a reply nginx must refuse."""
    t0 = ts(2034, 1, 1) * 1000000
    rc.set("ngsp:{t}:q:p:s", struct.pack("<ddd", *bad))
    r = run(rc, lua, t0, [("s", 5), ("d", 10)])
    assert r["allowed"] == 1 and r["windows"][0]["remaining"] == 4
    assert struct.unpack("<ddd", rc.get("ngsp:{t}:q:p:s")) == (1.0, t0, t0)


@pytest.mark.parametrize("value,taken", [
    (b"7", 7), (b"0", 0), (b"0007", 7), (b"1000000000000000", 10 ** 15),
    (b"-1", None), (b"1.5", None), (b"abc", None), (b"1e16", None),
    (b"1e3", None), (b" 5", None), (b"5 ", None), (b"0x10", None),
    (b"", None), (b"+5", None), (b"1000000000000001", None),
    (b"10000000000000000", None), (b"5\n", None), (b"\xff" * 40, None),
    (b"inf", None), (b"nan", None)])
def test_override_whole_numbers_only(rc, lua, value, taken):
    """An override is taken only when it is all digits and at most 10^15
    (Lua's tonumber alone reads " 5", "0x10" and "1e3"); any other value
    is ignored, the configured limit applies, and the reply gives the
    value's length + 1 for that window only."""
    t0 = ts(2034, 1, 1) * 1000000
    rc.hset("ngsp:{t}:limits", "p:d", value)
    rc.hset("ngsp:{t}:limits", "p:h", b"9")
    r = run(rc, lua, t0, [("h", 50), ("d", 40)])
    h, d = r["windows"]
    assert (h["limit"], h["ignored"]) == (9, 0)
    if taken is None:
        assert (d["limit"], d["ignored"]) == (40, len(value) + 1)
    else:
        assert (d["limit"], d["ignored"]) == (taken, 0)
    assert r["allowed"] == (0 if taken == 0 else 1)
