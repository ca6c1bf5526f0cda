"""ngsp_redis's addresses and modes: nginx -t refuses each mistake with
the fix named, at the directive's line; a repeated option is refused."""

import pytest


def check(nginx_factory, tmp_path, line):
    inc = tmp_path / "redis.conf"
    inc.write_text("# redis\n%s\n" % line)
    n = nginx_factory("include %s;" % inc, start=False)
    ok, out = n.check()
    return ok, out, "in %s:2" % inc


def refused(nginx_factory, tmp_path, line, message):
    ok, out, where = check(nginx_factory, tmp_path, line)
    assert not ok, out
    assert "[emerg]" in out and message in out and where in out, out


@pytest.mark.parametrize("line, message", [
    ("ngsp_redis 127.0.0.1:6379 127.0.0.1:6380;",
     'ngsp: ngsp_redis lists 2 addresses: add "sentinel=NAME" (the '
     'addresses are sentinels) or "cluster" (they are cluster nodes), or '
     "give one address"),
    ("ngsp_redis 127.0.0.1 127.0.0.2 sentinel=m cluster;",
     'ngsp: ngsp_redis takes "sentinel=" or "cluster", not both'),
    ("ngsp_redis 127.0.0.1:7000 cluster db=1;",
     'ngsp: "db=" with "cluster" (Redis Cluster has only database 0: '
     "leave db= out)"),
    ("ngsp_redis 127.0.0.1 sentinel_password=pw;",
     'ngsp: "sentinel_password=" without "sentinel=NAME" (the password is '
     "the sentinels')"),
    ("ngsp_redis 127.0.0.1 sentinel=;",
     'ngsp: empty "sentinel=" (give the master\'s name, or leave the '
     "parameter out)"),
    ("ngsp_redis 127.0.0.1 sentinel=m sentinel_password=;",
     'ngsp: empty "sentinel_password=" (give the password, or leave the '
     "parameter out)"),
    ("ngsp_redis password=pw;",
     "ngsp: ngsp_redis needs an address (host, host:port or unix:/path)"),
    ("ngsp_redis 127.0.0.1:26379 redis://127.0.0.1 sentinel=m;",
     'ngsp: invalid redis address "redis://127.0.0.1": invalid host'),
    ("ngsp_redis 127.0.0.1 sentinal=m;",
     'ngsp: invalid parameter "sentinal=" (ngsp_redis takes addresses, '
     "sentinel=, sentinel_password=, cluster, password=, db=, "
     "connect_timeout= and stall_timeout=)"),
])
def test_mode_mistakes_name_the_fix(nginx_factory, tmp_path, line, message):
    refused(nginx_factory, tmp_path, line, message)


@pytest.mark.parametrize("line, again", [
    ("ngsp_redis 127.0.0.1 password=a password=b;", "password="),
    ("ngsp_redis 127.0.0.1 db=1 db=1;", "db="),
    ("ngsp_redis 127.0.0.1 connect_timeout=1s connect_timeout=2s;",
     "connect_timeout="),
    ("ngsp_redis 127.0.0.1 stall_timeout=1s stall_timeout=2s;",
     "stall_timeout="),
    ("ngsp_redis 127.0.0.1 127.0.0.2 sentinel=m sentinel=n;", "sentinel="),
    ("ngsp_redis 127.0.0.1 sentinel=m sentinel_password=a "
     "sentinel_password=b;", "sentinel_password="),
    ("ngsp_redis 127.0.0.1 127.0.0.2 cluster cluster;", "cluster"),
])
def test_an_option_given_twice_is_refused(nginx_factory, tmp_path, line,
                                          again):
    """Not the last one silently winning: a template's slip shows, and
    the message stops at "=": the value may be a password."""
    refused(nginx_factory, tmp_path, line,
            'ngsp: "%s" is given twice in ngsp_redis' % again)


def test_sentinels_without_a_password_warn_when_the_master_has_one(
        nginx_factory, tmp_path):
    ok, out, _ = check(nginx_factory, tmp_path,
                       "ngsp_redis 127.0.0.1:26379 sentinel=m password=pw;")
    assert ok, out
    assert "[warn]" in out and 'sentinels without "sentinel_password="' \
        in out, out
    assert "pw" not in out.replace("password", ""), out
    for line in ("ngsp_redis 127.0.0.1:26379 sentinel=m;",
                 "ngsp_redis 127.0.0.1:26379 sentinel=m password=pw "
                 "sentinel_password=spw;",
                 "ngsp_redis 127.0.0.1 password=pw;"):
        ok, out, _ = check(nginx_factory, tmp_path, line)
        assert ok and "sentinel_password" not in out, (line, out)


def test_a_mistyped_password_option_is_not_shown(nginx_factory, tmp_path):
    line = "ngsp_redis 127.0.0.1 pasword=s3cr3t-value;"
    refused(nginx_factory, tmp_path, line,
            'ngsp: invalid parameter "pasword=" (ngsp_redis takes')
    out = check(nginx_factory, tmp_path, line)[1]
    assert "s3cr3t-value" not in out


@pytest.mark.parametrize("line", [
    "ngsp_redis 127.0.0.1:6379;",
    "ngsp_redis 127.0.0.1 password=pw db=3 connect_timeout=200ms;",
    "ngsp_redis unix:/run/redis/redis.sock;",
    "ngsp_redis 127.0.0.1:26379 127.0.0.1:26380 127.0.0.1 sentinel=ngsp "
    "sentinel_password=s password=pw db=2;",
    "ngsp_redis 127.0.0.1:26379 sentinel=ngsp;",
    "ngsp_redis 127.0.0.1:7000 127.0.0.1:7001 cluster password=pw;",
    "ngsp_redis cluster 127.0.0.1:7000 connect_timeout=200ms;",
])
def test_valid_lines_accepted(nginx_factory, tmp_path, line):
    ok, out, _ = check(nginx_factory, tmp_path, line)
    assert ok, out


def test_options_first_name_the_address_not_a_password(nginx_factory,
                                                       tmp_path):
    """Options may come before the address: logs and the status name the
    address, never the password."""
    import requests

    from harness import free_port
    from quota_site import poll

    port, dead = free_port(), free_port()
    nginx = nginx_factory(f"""
        ngsp_redis password=hunter2-secret 127.0.0.1:{dead};
        ngsp_quota_policy std 5r/d;
        ngsp_status_zone ngsp 1m;
        server {{
            listen 127.0.0.1:{port};
            location / {{ ngsp_quota std key=$remote_addr; empty_gif; }}
            location /status {{ ngsp_status; }}
        }}""", ports=[port])
    poll(lambda: 'ngsp: redis "127.0.0.1:%d": cannot connect' % dead
         in nginx.log())
    j = requests.get("http://127.0.0.1:%d/status?format=json" % port,
                     timeout=10).json()
    assert j["redis"]["server"] == "127.0.0.1:%d" % dead
    assert j["redis"]["mode"] == "single"
    assert requests.get("http://127.0.0.1:%d/" % port,
                        timeout=10).status_code == 503
    assert "hunter2" not in nginx.log()
