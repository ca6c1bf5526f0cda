"""Configuration mistakes in the masking directives: nginx -t refuses
them with the fix named, at the file and line of the directive, an
included file's own."""

import pytest

ACTIONS = ("the actions are pass, remove, redact, keep_first=N, keep_last=N, "
           "initials, year, email, hash, replace=TEXT")


def check_included(nginx_factory, tmp_path, lines, http_before=""):
    """nginx -t with `lines` in an included file: (output, its path)."""
    inc = tmp_path / "masking.conf"
    inc.write_text("\n".join(lines) + "\n")
    n = nginx_factory(f"{http_before}\ninclude {inc};", start=False)
    ok, out = n.check()
    assert not ok, out
    return out, inc


def line_of(lines, text):
    return next(i for i, s in enumerate(lines, 1) if text in s)


@pytest.mark.parametrize("directive", ["ngsp_mask_types",
                                       "ngsp_mask_pass_types"])
def test_media_type_without_slash(nginx_factory, tmp_path, directive):
    """Both type lists take media types: "json" alone, which would match
    nothing, is refused with an example of what is meant."""
    lines = ["server {", "    location / {",
             f"        {directive} application/json json;", "    }", "}"]
    out, inc = check_included(nginx_factory, tmp_path, lines)
    assert (f'ngsp: "{directive}" takes media types such as '
            f'"application/pdf" or "image/*", not "json" in '
            f'{inc}:{line_of(lines, directive)}') in out, out


@pytest.mark.parametrize("rule,why", [
    ("SoDinhDanh keep_last=x;", 'invalid number in "keep_last=x"'),
    ("SoDinhDanh redact=3;", 'action "redact" takes no argument'),
    ("SoDinhDanh keep_first;", 'action "keep_first" needs "=N"'),
    ("SoDinhDanh bogus;", 'unknown action "bogus"'),
])
def test_bad_action_names_it_and_lists_actions(nginx_factory, tmp_path,
                                               rule, why):
    action = rule.split()[1].rstrip(";")
    lines = ["ngsp_mask_profile p {", "    HoVaTen initials;",
             f"    {rule}", "}"]
    out, inc = check_included(nginx_factory, tmp_path, lines)
    assert (f'ngsp: bad action "{action}" for "SoDinhDanh" ({why}); '
            f'{ACTIONS} in {inc}:{line_of(lines, rule)}') in out, out
    # the list is said once
    assert out.count("keep_first=N") == 1, out


def test_unknown_profile_lists_the_profiles(nginx_factory, tmp_path):
    """A fixed "ngsp_mask name" that names no profile: the message gives
    the included file and line of the ngsp_mask line, and the profiles
    that exist."""
    lines = ["server {", "    location / {", "        ngsp_mask citizen;",
             "    }", "}"]
    out, inc = check_included(
        nginx_factory, tmp_path, lines,
        http_before="ngsp_mask_profile citizen_basic { A redact; }\n"
                    "ngsp_mask_profile citizen_full { }")
    assert ('ngsp: "ngsp_mask citizen" names no "ngsp_mask_profile"; the '
            'profiles are "citizen_basic", "citizen_full" in '
            f'{inc}:{line_of(lines, "ngsp_mask citizen")}') in out, out


def test_unknown_profile_when_none_is_defined(nginx_factory, tmp_path):
    lines = ["server {", "    ngsp_mask citizen;", "}"]
    out, inc = check_included(nginx_factory, tmp_path, lines)
    assert ('ngsp: "ngsp_mask citizen" names no "ngsp_mask_profile"; none '
            f'is defined in {inc}:2') in out, out


def test_hash_without_key_at_the_profile(nginx_factory, tmp_path):
    lines = ["", "ngsp_mask_profile p {", "    SoDinhDanh hash;", "}"]
    out, inc = check_included(nginx_factory, tmp_path, lines)
    assert ('ngsp: profile "p" uses "hash" but no "ngsp_mask_hash_key" is '
            f'set in {inc}:2') in out, out


def test_mask_types_star_alone_is_all_types(nginx_factory):
    """"*" alone in ngsp_mask_types masks every type (it fails closed) and
    stays allowed; in ngsp_mask_pass_types it is refused."""
    n = nginx_factory("server { location / { ngsp_mask_types *; } }",
                      start=False)
    ok, out = n.check()
    assert ok, out
    n = nginx_factory("server { location / { ngsp_mask_pass_types *; } }",
                      start=False)
    ok, out = n.check()
    assert not ok and 'not "*"' in out, out
