"""Configuration mistakes in the audit directives: nginx -t refuses them
with a clear message, at the file and line of the directive."""

import pytest

from mask_site import keyfile  # noqa: F401


def refused(nginx_factory, http):
    n = nginx_factory(http, start=False)
    ok, out = n.check()
    assert not ok, out
    return out, n.conf


@pytest.mark.parametrize("where", ["http", "server", "location"])
def test_no_hash_key(nginx_factory, where):
    """Rules without ngsp_mask_hash_key: refused (fail closed), naming
    the line of the rule."""
    rule = 'ngsp_audit_uri_match "~^/congdan/([0-9]{12})";'
    http = {
        "http": rule + "\nserver { listen 127.0.0.1:1; }",
        "server": "server {\n listen 127.0.0.1:1;\n" + rule + "\n}",
        "location": "server {\n listen 127.0.0.1:1;\n location / {\n"
                    + rule + "\n }\n}",
    }[where]
    out, conf = refused(nginx_factory, http)
    lines = [s.strip() for s in open(conf).read().splitlines()]
    line = lines.index(rule) + 1
    assert ('ngsp: "ngsp_audit_uri_match" and "ngsp_audit_uri_args" need '
            '"ngsp_mask_hash_key" in the http block, the key of their '
            'pseudonyms in %s:%d' % (conf, line)) in out, out


def test_args_without_hash_key(nginx_factory):
    out, _ = refused(nginx_factory, "ngsp_audit_uri_args cccd;\n"
                     "server { listen 127.0.0.1:1; }")
    assert 'need "ngsp_mask_hash_key"' in out, out


@pytest.mark.parametrize("arg,why", [
    ('"~^/congdan/([0-9]{12}"', 'ngsp: bad regular expression in '
     '"ngsp_audit_uri_match": pcre2_compile() failed: missing closing '
     'parenthesis in "^/congdan/([0-9]{12}"'),
    ("~^/congdan/[0-9]+", 'ngsp: "ngsp_audit_uri_match ~^/congdan/[0-9]+" '
     'has no capture group: put the identifier in parentheses'),
    ("~^/x/(?:[0-9]+)", 'has no capture group'),
    ("/congdan/([0-9]+)", 'ngsp: "ngsp_audit_uri_match" takes a regular '
     'expression after "~" or "~*"'),
    ("~" + "(a)" * 17, "has more than 16 capture groups"),
])
def test_bad_pattern(nginx_factory, keyfile, arg, why):
    out, conf = refused(nginx_factory, f"ngsp_mask_hash_key {keyfile};\n"
                        f"ngsp_audit_uri_match {arg};")
    assert why in out, out
    assert " in %s:" % conf in out, out


@pytest.mark.parametrize("name", ['""', "a=b", "a&b"])
def test_bad_argument_name(nginx_factory, keyfile, name):
    out, _ = refused(nginx_factory, f"ngsp_mask_hash_key {keyfile};\n"
                     f"ngsp_audit_uri_args cccd {name};")
    assert 'ngsp: invalid argument name' in out, out


def test_caseless_pattern_and_good_config(nginx_factory, keyfile):
    n = nginx_factory(f"""
        ngsp_mask_hash_key {keyfile};
        ngsp_audit_uri_match "~*^/CONGDAN/([0-9]{{12}})";
        ngsp_audit_uri_args soDinhDanh;
        ngsp_audit_error_log on;
        server {{ listen 127.0.0.1:1; }}
    """, start=False)
    ok, out = n.check()
    assert ok, out
