"""Quota and Redis configuration mistakes: nginx -t refuses each one with
the fix named, at the file and line of the directive, also when it sits in
an included file (and for the mistakes only found when merging)."""

import pytest

from harness import free_port


def check(nginx_factory, tmp_path, http_lines, location_lines=(),
          redis="ngsp_redis 127.0.0.1:1;"):
    """nginx -t with the directives in an included file: (ok, output,
    path of the included file, its lines)."""
    lines = ["# quota settings", redis]
    lines += list(http_lines)
    if location_lines:
        lines.append("server { listen 127.0.0.1:%d;" % free_port())
        lines.append("location / {")
        lines += list(location_lines)
        lines.append("return 204; } }")
    inc = tmp_path / "quota.conf"
    inc.write_text("\n".join(lines) + "\n")
    n = nginx_factory("include %s;" % inc, start=False)
    ok, out = n.check()
    return ok, out, str(inc), lines


def refused_at(nginx_factory, tmp_path, bad, message, http_lines=(),
               location=False, redis="ngsp_redis 127.0.0.1:1;"):
    """The directive "bad" is refused with message, at its own line."""
    if bad.startswith("ngsp_redis "):
        ok, out, inc, lines = check(nginx_factory, tmp_path, http_lines,
                                    redis=bad)
    elif location:
        ok, out, inc, lines = check(nginx_factory, tmp_path, http_lines,
                                    [bad], redis=redis)
    else:
        ok, out, inc, lines = check(nginx_factory, tmp_path,
                                    list(http_lines) + [bad], redis=redis)
    line = lines.index(bad) + 1
    assert not ok, out
    assert "[emerg]" in out, out
    assert message in out, out
    assert "in %s:%d" % (inc, line) in out, out


POLICIES = ["ngsp_quota_policy std 5r/d;", "ngsp_quota_policy base 1r/s;"]
WINDOW = 'the form is Nr/s|m|h|d|mo'


@pytest.mark.parametrize("bad, message", [
    ("ngsp_quota_fail close;",
     'ngsp: invalid value "close" in "ngsp_quota_fail" '
     "(one of: open | closed)"),
    ("ngsp_quota_log_level debug;",
     'ngsp: invalid value "debug" in "ngsp_quota_log_level" '
     "(one of: info | notice | warn | error)"),
    ("ngsp_quota std foo=bar;",
     'ngsp: invalid parameter "foo=bar" (the second parameter is '
     "key=<value with variables>)"),
    ("ngsp_quota_status 200;", "value must be between 400 and 599"),
])
def test_location_directive_refused_with_fix(nginx_factory, tmp_path, bad,
                                             message):
    refused_at(nginx_factory, tmp_path, bad, message, POLICIES,
               location=True)


@pytest.mark.parametrize("window", ["10/d", "10r/week", "0r/d", "r/s",
                                    "10 r/d", "1000001r/s"])
def test_policy_with_bad_rate_names_the_form(nginx_factory, tmp_path,
                                             window):
    bad = "ngsp_quota_policy std 5r/s %s;" % window
    if " " in window:
        bad = 'ngsp_quota_policy std 5r/s "%s";' % window
    refused_at(nginx_factory, tmp_path, bad,
               'ngsp: invalid window "%s" in quota policy "std": %s'
               % (window, WINDOW))


def test_undefined_policy_names_the_defined_ones(nginx_factory, tmp_path):
    """Found when merging, yet told at the ngsp_quota line."""
    refused_at(nginx_factory, tmp_path, "ngsp_quota standard;",
               'ngsp: unknown quota policy "standard" (defined at http '
               'level: "std", "base")', POLICIES, location=True)


def test_undefined_policy_when_none_is_defined(nginx_factory, tmp_path):
    refused_at(nginx_factory, tmp_path, "ngsp_quota std;",
               'ngsp: unknown quota policy "std": none is defined (add '
               '"ngsp_quota_policy std 100r/m;" at http level)',
               location=True)


def test_quota_without_redis_at_its_line(nginx_factory, tmp_path):
    refused_at(nginx_factory, tmp_path, "ngsp_quota std;",
               'ngsp: "ngsp_quota std" needs "ngsp_redis host:port;" at '
               "http level", POLICIES, location=True, redis="# no redis")


@pytest.mark.parametrize("address, why", [
    ("redis://127.0.0.1:6379", ": invalid host"),
    ("127.0.0.1:6379/0", ": invalid host"),
    ("127.0.0.1:99999", ": invalid port"),
    ("", ": no host"),
])
def test_redis_bad_address_names_the_forms(nginx_factory, tmp_path, address,
                                           why):
    bad = 'ngsp_redis "%s";' % address
    refused_at(nginx_factory, tmp_path, bad,
               'ngsp: invalid redis address "%s"%s (host, host:port or '
               "unix:/path" % (address, why))


@pytest.mark.parametrize("option, message", [
    ("timeout=1s", 'ngsp: invalid parameter "timeout=" (ngsp_redis takes '
                   "addresses, sentinel=, sentinel_password=, cluster, "
                   "password=, db=, connect_timeout= and stall_timeout=)"),
    ("password=", 'ngsp: empty "password=" (give the password, or leave '
                  "the parameter out)"),
    ("db=x", 'ngsp: invalid "db=x" (db=N, with N from 0 to 65535)'),
    ("db=70000", 'ngsp: invalid "db=70000" (db=N, with N from 0 to 65535)'),
    ("connect_timeout=soon", 'ngsp: invalid "connect_timeout=soon" (a time '
                             "above 0, such as 500ms or 2s)"),
    ("stall_timeout=0", 'ngsp: invalid "stall_timeout=0" (a time above 0, '
                        "such as 500ms or 2s)"),
])
def test_redis_bad_option_names_the_fix(nginx_factory, tmp_path, option,
                                        message):
    refused_at(nginx_factory, tmp_path,
               "ngsp_redis 127.0.0.1:6379 %s;" % option, message)


@pytest.mark.parametrize("tz", ["+7", "GMT+7", "+15:00", "+07:60",
                                "Asia/Hanoi", "07:00"])
def test_timezone_malformed_names_the_forms(nginx_factory, tmp_path, tz):
    refused_at(nginx_factory, tmp_path, "ngsp_quota_timezone %s;" % tz,
               'ngsp: invalid time zone "%s" (a fixed offset +HH:MM, '
               "-HH:MM, +HHMM or -HHMM of at most 14 hours, or UTC; such "
               "as +07:00)" % tz, POLICIES)


@pytest.mark.parametrize("good", ["ngsp_quota_fail open;",
                                  "ngsp_quota_fail closed;",
                                  "ngsp_quota_log_level warn;"])
def test_valid_values_still_accepted(nginx_factory, tmp_path, good):
    ok, out, _, _ = check(nginx_factory, tmp_path, POLICIES,
                          ["ngsp_quota std;", good])
    assert ok, out
