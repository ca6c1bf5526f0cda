"""Configuration mistakes of the JWT directives, refused by nginx -t with
the fix named, at the file and line of the directive (included files too).
"""

import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@pytest.fixture(scope="module")
def pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo)


def site(tmp_path, pem, loc, keys=True):
    path = tmp_path / "pub.pem"
    path.write_bytes(pem)
    key = f"ngsp_jwt_key_file {path};" if keys else ""
    return f"""
        {key}
        server {{
            listen 127.0.0.1:1;
            location / {{
                ngsp_jwt on;
                {loc}
                return 204;
            }}
        }}"""


def line_of(path, text):
    """1-based line of the first line of path holding text."""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise AssertionError(f"{text!r} not in {path}")


def refused(n, message, path, text):
    """nginx -t fails with message at path:line of text, once, as emerg."""
    ok, out = n.check()
    assert not ok, out
    where = f"{path}:{line_of(path, text)}"
    lines = [l for l in out.splitlines() if message in l]
    assert len(lines) == 1, out
    assert re.search(r"\[emerg\] (\d+#\d+: )?ngsp: ", lines[0]), out
    assert lines[0].endswith(" in " + where), out


@pytest.mark.parametrize("directive,message", [
    ("ngsp_agency_claim $client_id;",
     '"ngsp_agency_claim" takes a claim name such as client_id, not a '
     'variable: write "client_id", not "$client_id"'),
    ("ngsp_agency_claim agency_code $azp;",
     '"ngsp_agency_claim" takes a claim name such as client_id, not a '
     'variable: write "azp", not "$azp"'),
    ('ngsp_agency_claim "";',
     '"ngsp_agency_claim" takes a claim name such as client_id, not an '
     'empty string'),
    ("ngsp_jwt_require $scope contains dancu.read;",
     '"ngsp_jwt_require" takes a claim name such as client_id, not a '
     'variable: write "scope", not "$scope"'),
])
def test_claim_name_not_a_variable(nginx_factory, tmp_path, pem, directive,
                                   message):
    n = nginx_factory(site(tmp_path, pem, directive), start=False)
    refused(n, message, n.conf, directive)


@pytest.mark.parametrize("op", ["==", "EQ", "has", "~"])
def test_require_unknown_operator_lists_the_valid_ones(nginx_factory,
                                                       tmp_path, pem, op):
    directive = f'ngsp_jwt_require role "{op}" admin;'
    n = nginx_factory(site(tmp_path, pem, directive), start=False)
    refused(n, f'unknown operator "{op}": use eq, ne, in, contains, exists '
               'or match, as in "ngsp_jwt_require scope contains '
               'dancu.read"', n.conf, directive)


@pytest.mark.parametrize("directive,message", [
    ("ngsp_jwt_require role eq admin officer;",
     'operator "eq" takes exactly one value, not 2'),
    ("ngsp_jwt_require role ne;", 'operator "ne" takes exactly one value, '
                                  'not 0'),
    ("ngsp_jwt_require sub match ^a ^b;",
     'operator "match" takes exactly one value, not 2'),
    ("ngsp_jwt_require scope contains;",
     'operator "contains" takes one value or more, not 0'),
    ("ngsp_jwt_require level in;", 'operator "in" takes one value or more, '
                                   'not 0'),
    ("ngsp_jwt_require exp exists yes;",
     'operator "exists" takes no value, not 1'),
])
def test_require_wrong_number_of_values(nginx_factory, tmp_path, pem,
                                        directive, message):
    n = nginx_factory(site(tmp_path, pem, directive), start=False)
    refused(n, message, n.conf, directive)


@pytest.mark.parametrize("value", ["cookie_access_token", "Authorization",
                                   '""'])
def test_token_needs_a_variable(nginx_factory, tmp_path, pem, value):
    directive = f"ngsp_jwt_token {value};"
    n = nginx_factory(site(tmp_path, pem, directive), start=False)
    shown = "" if value == '""' else value
    refused(n, '"ngsp_jwt_token" takes a variable, such as '
               '$cookie_access_token or $arg_access_token, '
               f'not "{shown}"', n.conf, directive)


@pytest.mark.parametrize("value", ["5 min", "abc", "-5s", "1x"])
def test_bad_leeway(nginx_factory, tmp_path, pem, value):
    directive = f'ngsp_jwt_leeway "{value}";'
    n = nginx_factory(site(tmp_path, pem, directive), start=False)
    refused(n, f'invalid leeway "{value}": a time such as 30s or 2m',
            n.conf, directive)


@pytest.mark.parametrize("value", ["3601", "61m", "2h", "1d", "52w"])
def test_leeway_beyond_an_hour_refused(nginx_factory, tmp_path, pem, value):
    directive = f"ngsp_jwt_leeway {value};"
    n = nginx_factory(site(tmp_path, pem, directive), start=False)
    refused(n, f'leeway "{value}" is more than 1h: a skew that large turns '
               'expiry off', n.conf, directive)


@pytest.mark.parametrize("loc", ["ngsp_jwt_leeway 30;",
                                 "ngsp_jwt_leeway 1h;",
                                 "ngsp_jwt_leeway 2m;",
                                 "ngsp_jwt_token $cookie_at;",
                                 "ngsp_agency_claim agency_code azp;",
                                 "ngsp_jwt_require exp exists;",
                                 "ngsp_jwt_require level in 2 3;"])
def test_right_forms_pass(nginx_factory, tmp_path, pem, loc):
    n = nginx_factory(site(tmp_path, pem, loc), start=False)
    ok, out = n.check()
    assert ok, out


def test_jwt_on_without_keys_named_at_the_included_directive(
        nginx_factory, tmp_path, pem):
    """the check runs once the http block is read, yet names the place of
    "ngsp_jwt on", here in an included file"""
    inc = tmp_path / "api.conf"
    inc.write_text("# the API\n\nlocation /api/ {\n    ngsp_jwt on;\n"
                   "    return 204;\n}\n")
    http = f"""
        server {{
            listen 127.0.0.1:1;
            include {inc};
        }}"""
    n = nginx_factory(http, start=False)
    refused(n, '"ngsp_jwt on" needs at least one "ngsp_jwt_key_file" or '
               '"ngsp_jwt_key_request" at http level', str(inc),
            "ngsp_jwt on;")


def test_jwt_on_inherited_without_keys_named_where_set(nginx_factory,
                                                       tmp_path, pem):
    http = """
        ngsp_jwt on;
        server {
            listen 127.0.0.1:1;
            location / { return 204; }
        }"""
    n = nginx_factory(http, start=False)
    refused(n, '"ngsp_jwt on" needs at least one "ngsp_jwt_key_file"',
            n.conf, "ngsp_jwt on;")


@pytest.mark.parametrize("directive,message", [
    ("ngsp_agency_claim $client_id;",
     "takes a claim name such as client_id, not a variable"),
    ("ngsp_jwt_require scope has x;", 'unknown operator "has"'),
    ("ngsp_jwt_token cookie_at;", '"ngsp_jwt_token" takes a variable'),
    ("ngsp_jwt_leeway soon;", 'invalid leeway "soon"'),
    ("ngsp_jwt_key_file {missing};", 'cannot load key file "{missing}"'),
    ("ngsp_jwt_key_file {pem} alg=XX256;", 'unknown algorithm "XX256"'),
])
def test_errors_in_an_included_file(nginx_factory, tmp_path, pem, directive,
                                    message):
    path = tmp_path / "pub.pem"
    path.write_bytes(pem)
    missing = tmp_path / "none.pem"
    directive = directive.format(missing=missing, pem=path)
    message = message.format(missing=missing)
    inc = tmp_path / "jwt.conf"
    inc.write_text(f"# JWT settings\n\n\n{directive}\n")
    at_http = directive.startswith("ngsp_jwt_key_file")
    http = f"""
        {f"include {inc};" if at_http else f"ngsp_jwt_key_file {path};"}
        server {{
            listen 127.0.0.1:1;
            location / {{
                ngsp_jwt on;
                {"" if at_http else f"include {inc};"}
                return 204;
            }}
        }}"""
    n = nginx_factory(http, start=False)
    refused(n, message, str(inc), directive)
    assert line_of(str(inc), directive) == 4
