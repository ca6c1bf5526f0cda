"""The quota script run directly in Redis with a fixed clock (its second
argument), against Python's own calendar: window lengths and local ends,
month and year ends, leap years, offsets; GCRA timing to the microsecond;
the one state string per agency and policy, its TTL, and what it takes as
no state.  The script replies with raw levels; what nginx derives from
them is derived here again, from the contract, with datetime's
calendar."""

import ast
import datetime
import math
import os
import struct

import pytest

from quota_site import UNITS, pack_state, quota_shape, quota_state

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


def window_span(u, now_us, off):
    """(width, end in Unix seconds) of a calendar window, by datetime."""
    loc = datetime.datetime(1970, 1, 1) + datetime.timedelta(
        seconds=now_us // 1000000 + off)
    if u == "h":
        start = loc.replace(minute=0, second=0)
        stop = start + datetime.timedelta(hours=1)
    elif u == "d":
        start = loc.replace(hour=0, minute=0, second=0)
        stop = start + datetime.timedelta(days=1)
    else:
        start = loc.replace(day=1, hour=0, minute=0, second=0)
        ny, nm = next_month(start.year, start.month)
        stop = datetime.datetime(ny, nm, 1)
    epoch = datetime.datetime(1970, 1, 1)
    return (int((stop - start).total_seconds()),
            int((stop - epoch).total_seconds()) - off)


def up(x):
    """Microseconds to whole seconds, rounded up, as the contract says."""
    x += 999999
    return (x - x % 1000000) / 1000000


def derive(raw, windows, off):
    """What nginx says from a reply: the contract of ngsp_quota_reply.c."""
    n = len(windows)
    v = struct.unpack("<%dd" % (5 + 2 * n), raw)
    assert v[0] == quota_shape([u for u, _ in windows])
    now, ok = v[2], v[3]
    assert ok in (0, 1) and now == int(now)
    out = {"allowed": int(ok), "retry": 0, "windows": [], "now": int(now),
           "levels": [v[5 + 2 * i] for i in range(n)]}
    admit, retry, after = 1, 0, []
    for i, (u, configured) in enumerate(windows):
        level, limit = v[5 + 2 * i], v[6 + 2 * i]
        ignored = 0
        if limit < 0:
            ignored, limit = int(-limit), configured
        ra = rt = 0
        if u in ("s", "m"):
            win = 1000000 if u == "s" else 60000000
            width = win // 1000000
            if limit > 0:
                step = win / limit
                rem = math.floor(limit - level + 1e-9)
                reset = up(level * step)
                if level + 1 <= limit + 1e-9:
                    ra = up((level + 1) * step)
                else:
                    rt = up((level + 1 - limit) * step)
            else:
                rem, reset, rt = 0, width, width
        else:
            assert level == int(level)
            width, end = window_span(u, int(now), off)
            rem = limit - level
            reset = up(end * 1000000 - now)
            if level < limit:
                ra = reset
            else:
                rt = reset
        if rt:
            admit = 0
            retry = max(retry, max(rt, 1))
        out["windows"].append(dict(limit=int(limit), remaining=max(rem, 0),
                                   reset=reset, width=width, ignored=ignored))
        after.append(ra)
    # the script's decision is the arithmetic's
    assert admit == ok
    if ok:
        for w, ra in zip(out["windows"], after):
            w["remaining"] -= 1
            w["reset"] = ra
    else:
        out["retry"] = retry
    for w in out["windows"]:
        w["remaining"], w["reset"] = int(w["remaining"]), int(w["reset"])
    out["retry"] = int(out["retry"])
    return out


def run(rc, lua, now_us, windows, tag="t", policy="p", off=7 * 3600):
    """The arguments packed as ngsp_quota_command() packs them (written
    here again from the script's contract, not taken from the C code)."""
    keys = ["ngsp:{%s}:limits" % tag, "ngsp:{%s}:q:%s" % (tag, policy)]
    n = len(windows)
    nums = [off, now_us, quota_shape([u for u, _ in windows])]
    for u, lim in windows:
        nums += [UNITS.index(u), lim]
    args = [struct.pack("<%dd" % len(nums), *nums), "<" + "d" * (3 + 2 * n),
            "<" + "d" * (5 + 2 * n)] + ["%s:%s" % (policy, u)
                                        for u, _ in windows]
    raw = rc.eval(lua, len(keys), *keys, *args)
    assert isinstance(raw, bytes) and len(raw) == 8 * (5 + 2 * n)
    out = derive(raw, windows, off)
    if out["allowed"]:
        # the reply is the state written
        assert rc.get(keys[1]) == raw
    return out


def state(rc, windows, tag="t", policy="p"):
    return quota_state(rc.get("ngsp:{%s}:q:%s" % (tag, policy)),
                       [u for u, _ in windows])


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
    w = [("h", 5), ("d", 5), ("mo", 5)]
    t = "c%d" % now
    r = run(rc, lua, now * 1000000 + 250000, w, off=off, tag=t)
    assert r["allowed"] == 1 and r["levels"] == [0, 0, 0]
    h_end = ts(y, m, d, hh, 0, 0, off) + 3600
    d_end = ts(y, m, d, 0, 0, 0, off) + 86400
    ny, nm = next_month(y, m)
    mo_start, mo_end = ts(y, m, 1, 0, 0, 0, off), ts(ny, nm, 1, 0, 0, 0, off)
    h, dd, mo = r["windows"]
    assert (h["width"], h["reset"], h["remaining"]) == (3600, h_end - now, 4)
    assert (dd["width"], dd["reset"]) == (86400, d_end - now)
    assert (mo["width"], mo["reset"]) == (mo_end - mo_start, mo_end - now)
    # one key, living as long as its longest window
    assert [k.decode() for k in rc.keys("ngsp:{%s}:*" % t)] == \
        ["ngsp:{%s}:q:p" % t]
    assert rc.execute_command("EXPIRETIME", "ngsp:{%s}:q:p" % t) == mo_end
    st = state(rc, w, tag=t)
    assert st["month_end"] == mo_end * 1000000
    assert st["expires"] == mo_end * 1000000
    assert st["counts"] == [1, 1, 1] and st["limits"] == [5, 5, 5]
    # the last microsecond of each window still counts in it; the next
    # one is a new window (the month's end read back from the state)
    ends = (h_end, d_end, mo_end)
    for k, end in enumerate(ends):
        tk = "%s-%d" % (t, k)
        run(rc, lua, now * 1000000, w, off=off, tag=tk)
        r = run(rc, lua, end * 1000000 - 1, w, off=off, tag=tk)
        assert r["levels"] == [1 if e >= end else 0 for e in ends], k
        r = run(rc, lua, end * 1000000, w, off=off, tag=tk)
        assert r["levels"] == [0 if e <= end else 2 for e in ends], k
        assert r["windows"][k]["reset"] == window_span(
            w[k][0], end * 1000000, off)[1] - end


def test_calendar_counts_and_rejects_without_writing(rc, lua):
    now = ts(2034, 5, 6, 7, 8, 9) * 1000000
    for left in (1, 0):
        r = run(rc, lua, now, [("d", 2)])
        assert r["allowed"] == 1 and r["windows"][0]["remaining"] == left
    before = rc.get("ngsp:{t}:q:p")
    r = run(rc, lua, now, [("d", 2)])
    assert (r["allowed"], r["windows"][0]["remaining"]) == (0, 0)
    d_end = ts(2034, 5, 7)
    assert r["retry"] == d_end - now // 1000000
    assert rc.get("ngsp:{t}:q:p") == before
    assert state(rc, [("d", 2)])["counts"] == [2]
    # the next local day is a new window
    r = run(rc, lua, d_end * 1000000, [("d", 2)])
    assert r["allowed"] == 1 and r["levels"] == [0]
    assert state(rc, [("d", 2)])["counts"] == [1]


def test_a_clock_that_steps_back_keeps_the_windows_counted(rc, lua):
    """After a failover to a Redis whose clock is behind, the key's clock
    does not go back: the hour and the day counted go on counting."""
    edge = ts(2034, 5, 6, 10) * 1000000
    w = [("s", 1000), ("h", 10), ("d", 10)]
    assert run(rc, lua, edge + 1000000, w)["allowed"] == 1   # 10:00:01
    r = run(rc, lua, edge - 1000000, w)                       # 09:59:59
    assert r["allowed"] == 1
    st = state(rc, w)
    assert st["counts"][1:] == [2, 2]
    assert st["measured"] == edge + 1000000
    assert r["windows"][1]["remaining"] == 8
    # the clock catches up within the hour: the same windows still
    assert run(rc, lua, edge + 2000000, w)["allowed"] == 1
    assert state(rc, w)["counts"][1:] == [3, 3]
    # and a month counted before the step is not reopened
    m = [("mo", 2)]
    end = ts(2034, 6, 1) * 1000000
    assert run(rc, lua, end + 1000000, m, policy="m")["allowed"] == 1
    assert run(rc, lua, end - 1000000, m, policy="m")["allowed"] == 1
    r = run(rc, lua, end - 500000, m, policy="m")
    assert r["allowed"] == 0 and r["windows"][0]["remaining"] == 0


def test_all_windows_must_admit(rc, lua):
    now = ts(2034, 5, 6, 7, 8, 9) * 1000000
    w = [("s", 100), ("h", 1), ("d", 10)]
    assert run(rc, lua, now, w)["allowed"] == 1
    before = rc.get("ngsp:{t}:q:p")
    r = run(rc, lua, now + 1000, w)
    assert r["allowed"] == 0
    # nothing written by the rejected call: the day counter stays at 1
    assert rc.get("ngsp:{t}:q:p") == before
    assert state(rc, w)["counts"] == [1, 1, 1]
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
    tat = rc.get("ngsp:{t}:q:p")
    assert run(rc, lua, t0 + 199999, w)["allowed"] == 0
    assert rc.get("ngsp:{t}:q:p") == tat          # rejections write nothing
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
    assert state(rc, w)["limits"] == [3, 100]
    rc.hset("ngsp:{t}:limits", "p:d", 3)
    r = run(rc, lua, t0 + 60000000, w)
    assert r["allowed"] == 0 and r["windows"][1]["limit"] == 3
    rc.hdel("ngsp:{t}:limits", "p:d")
    assert run(rc, lua, t0 + 60000000, w)["allowed"] == 1
    # another policy's override does not apply, nor another unit's
    rc.hset("ngsp:{t}:limits", "other:m", 0)
    rc.hset("ngsp:{t}:limits", "p:s", 0)
    rc.hset("ngsp:{t}:limits", "p:mo", 0)
    assert run(rc, lua, t0 + 120000000, w)["allowed"] == 1
    # a field named like a value is still only a field
    rc.delete("ngsp:{t}:limits")
    rc.hset("ngsp:{t}:limits", mapping={"x": "p:m", "p:d": "p:m"})
    r = run(rc, lua, t0 + 180000000, w)
    assert r["windows"][0]["limit"] == 2
    assert (r["windows"][1]["limit"], r["windows"][1]["ignored"]) == (100, 4)


def test_script_uses_redis_time_when_no_clock_given(rc, lua):
    sec, usec = rc.time()
    r = run(rc, lua, 0, [("d", 5)])
    sec2, usec2 = rc.time()
    assert sec * 1000000 + usec <= r["now"] <= sec2 * 1000000 + usec2
    assert state(rc, [("d", 5)])["measured"] == r["now"]
    end = ((sec + 7 * 3600) // 86400 + 1) * 86400 - 7 * 3600
    assert abs(r["windows"][0]["reset"] - (end - sec)) <= 1
    assert rc.execute_command("EXPIRETIME", "ngsp:{t}:q:p") == end


def test_state_ttl_set_when_less_than_a_window_is_left(rc, lua):
    """The state lives two windows (GCRA) or to its longest window's end
    (calendar); its TTL is set again only when less than a window (or the
    calendar window) is left: every write leaves at least that much."""
    t0 = ts(2034, 1, 1) * 1000000
    w = [("s", 100)]
    key = "ngsp:{t}:q:p"

    assert run(rc, lua, t0, w)["allowed"] == 1
    st = state(rc, w)
    assert (st["counts"], st["measured"], st["expires"]) == \
        ([1.0], t0, t0 + 2000000)
    assert rc.execute_command("PEXPIRETIME", key) == (t0 + 2000000) // 1000
    assert run(rc, lua, t0 + 500000, w)["allowed"] == 1
    st = state(rc, w)
    assert (st["counts"], st["measured"], st["expires"]) == \
        ([1.0], t0 + 500000, t0 + 2000000)       # drained, +1; TTL kept
    assert rc.execute_command("PEXPIRETIME", key) == (t0 + 2000000) // 1000
    assert run(rc, lua, t0 + 1000001, w)["allowed"] == 1
    assert state(rc, w)["expires"] == t0 + 3000001 - 1
    assert rc.execute_command("PEXPIRETIME", key) == (t0 + 3000000) // 1000

    # a day window: the state lives to the day's end, set once a day
    w = [("s", 100), ("d", 5)]
    d_end = ts(2034, 1, 2) * 1000000
    assert run(rc, lua, t0, w, policy="q")["allowed"] == 1
    k2 = "ngsp:{t}:q:q"
    assert rc.execute_command("PEXPIRETIME", k2) == d_end // 1000
    rc.pexpire(k2, 5000000)             # what KEEPTTL keeps
    assert run(rc, lua, t0 + 10000000, w, policy="q")["allowed"] == 1
    assert 4000000 < rc.pttl(k2) <= 5000000
    assert state(rc, w, policy="q")["expires"] == d_end
    # the day ending within a second: two windows of s from now
    t1 = d_end - 500000
    assert run(rc, lua, t1, w, policy="q")["allowed"] == 1
    assert state(rc, w, policy="q")["expires"] == t1 + 2000000
    assert rc.execute_command("PEXPIRETIME", k2) == (t1 + 2000000) // 1000


def test_state_of_another_shape_or_version_is_fresh(rc, lua):
    t0 = ts(2034, 1, 1) * 1000000
    w = [("s", 100), ("d", 10)]
    for _ in range(3):
        run(rc, lua, t0, w)
    assert state(rc, w)["counts"][1] == 3
    # the policy's units changed by a reload: a fresh state
    r = run(rc, lua, t0, [("s", 100), ("h", 10)])
    assert r["levels"] == [0, 0]
    # a state the script did not write: an older version's bucket, text
    for old in (struct.pack("<ddd", 1.0, t0, t0), b"1.000000 20000000",
                b"7", b""):
        rc.set("ngsp:{t}:q:p", old)
        r = run(rc, lua, t0 + 1, w)
        assert r["allowed"] == 1 and r["levels"] == [0, 0]
    # not admitted, or measured at no sensible time
    for measured, admitted in ((t0, 0), (-1, 1), (1e17, 1),
                               (float("nan"), 1)):
        raw = bytearray(pack_state(["s", "d"], measured, [50, 9], [100, 10]))
        raw[24:32] = struct.pack("<d", admitted)
        rc.set("ngsp:{t}:q:p", bytes(raw))
        r = run(rc, lua, t0 + 1, w)
        assert r["allowed"] == 1 and r["levels"] == [0, 0], (measured,
                                                              admitted)
    # the old layout's keys are not read (a rolling upgrade counts apart)
    rc.delete("ngsp:{t}:q:p")
    rc.set("ngsp:{t}:q:p:d:20340101", 10)
    assert run(rc, lua, t0, w)["levels"] == [0, 0]


def test_month_end_from_the_state_only_when_it_is_one(rc, lua):
    """The month's end is read back from the state, not worked out, only
    when it is a local midnight at most 28 days ahead; else the calendar
    decides, and a count stored for another end is not this month's."""
    w = [("mo", 10)]
    now = ts(2034, 3, 30, 12) * 1000000
    mo_end = ts(2034, 4, 1) * 1000000
    assert run(rc, lua, now, w)["allowed"] == 1
    assert state(rc, w)["month_end"] == mo_end
    assert run(rc, lua, now, w)["levels"] == [1]
    for bad_end in (mo_end + 1000000,            # not a local midnight
                    mo_end + 86400000000,        # a midnight, not the end
                    mo_end - 86400000000 * 3,    # in the past
                    ts(2034, 5, 1) * 1000000):   # more than 28 days ahead
        rc.set("ngsp:{t}:q:p", pack_state(["mo"], now, [4], [10],
                                          expires=mo_end, month_end=bad_end))
        r = run(rc, lua, now, w)
        # the calendar's end: another end's count is not this month's,
        # except a midnight within 28 days, taken as this month's end
        if bad_end == mo_end + 86400000000:
            assert r["levels"] == [5]
            assert state(rc, w)["month_end"] == bad_end
        else:
            assert r["levels"] == [0], bad_end
            assert state(rc, w)["month_end"] == mo_end
        assert r["windows"][0]["reset"] == (mo_end - now) // 1000000
    # on the first days of a 31-day month the calendar decides, and agrees
    now = ts(2034, 5, 2) * 1000000
    assert run(rc, lua, now, w)["levels"] == [0]
    assert run(rc, lua, now, w)["levels"] == [1]
    assert state(rc, w)["month_end"] == ts(2034, 6, 1) * 1000000


@pytest.mark.parametrize("bad", [
    float("nan"), float("inf"), -5.0, 1e300, 1e16])
def test_state_level_of_garbage_is_fresh(rc, lua, bad):
    """A level the script never writes (NaN, infinities, negative or
    absurd) counts as empty, the other windows kept: admitted, counted
    once, never an error nor a reply nginx must refuse."""
    t0 = ts(2034, 1, 1) * 1000000
    rc.set("ngsp:{t}:q:p", pack_state(["s", "d"], t0, [bad, 3], [5, 10]))
    r = run(rc, lua, t0, [("s", 5), ("d", 10)])
    assert r["allowed"] == 1 and r["windows"][0]["remaining"] == 4
    assert r["levels"] == [0, 4]
    assert state(rc, [("s", 5), ("d", 10)])["counts"] == [1, 5]


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
