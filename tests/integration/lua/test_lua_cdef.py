"""resty.ngsp's ffi.cdef against ngx_module/lua/ngx_http_ngsp_lua.h: the
same functions, struct fields and types, the same ABI version and return
codes.  LuaJIT trusts the cdef blindly, so a drift between the two would
pass every other test that does not happen to reach the changed argument
and corrupt memory in production.  No nginx: both texts are read and
compared declaration by declaration.

Types are compared after one mapping: nginx's u_char is char on the Lua
side (the same size and passing; Lua strings convert to const char *)."""

import os
import re

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..",
                                   ".."))
HEADER = os.path.join(TOP, "ngx_module", "lua", "ngx_http_ngsp_lua.h")
LUA = os.path.join(TOP, "lua-compat", "resty", "ngsp.lua")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_c(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return text


def norm_type(t):
    t = re.sub(r"\bu_char\b", "char", t)
    t = re.sub(r"\s*\*\s*", " * ", t)
    return " ".join(t.split())


def split_decl(decl):
    """'const char *name' -> ('const char *', 'name'); arrays kept on the
    type: 'int64_t a[5]' -> ('int64_t [5]', 'a')."""
    decl = " ".join(decl.split())
    arr = ""
    m = re.search(r"(\[[^\]]*\])\s*$", decl)
    if m:
        arr = " " + m.group(1).replace(" ", "")
        decl = decl[:m.start()].rstrip()
    m = re.match(r"^(.*?)([A-Za-z_][A-Za-z0-9_]*)$", decl)
    assert m, decl
    return norm_type(m.group(1)) + arr, m.group(2)


def parse(text):
    """The typedefs (struct fields, opaque structs) and prototypes of a
    declaration text, as comparable values."""
    text = strip_c(text)
    text = re.sub(r"^\s*#[^\n]*$", " ", text, flags=re.M)
    structs, opaque, funcs = {}, {}, {}

    for m in re.finditer(r"typedef\s+struct\s*\{(.*?)\}\s*(\w+)\s*;", text,
                         flags=re.S):
        fields = [split_decl(f) for f in m.group(1).split(";") if f.strip()]
        structs[m.group(2)] = fields
    text = re.sub(r"typedef\s+struct\s*\{.*?\}\s*\w+\s*;", " ", text,
                  flags=re.S)

    for m in re.finditer(r"typedef\s+struct\s+(\w+)\s+(\w+)\s*;", text):
        opaque[m.group(2)] = m.group(1)
    text = re.sub(r"typedef\s+struct\s+\w+\s+\w+\s*;", " ", text)

    for m in re.finditer(r"([^;{}]+?)\(([^()]*)\)\s*;", text):
        ret, name = split_decl(m.group(1))
        args = m.group(2).strip()
        params = [] if args in ("", "void") else \
            [split_decl(a)[0] for a in args.split(",")]
        funcs[name] = (ret, params)

    return structs, opaque, funcs


def lua_cdef(text):
    m = re.search(r"ffi\.cdef\[\[(.*?)\]\]", text, flags=re.S)
    assert m, "no ffi.cdef in resty/ngsp.lua"
    return m.group(1)


def header_decls(text):
    """The header's declarations: between its includes and its #endif,
    ngsp_lua_* and the types they use."""
    body = text.split("#include <ngx_http.h>", 1)[1]
    return body.rsplit("#endif", 1)[0]


def drift(header_text, lua_text):
    """Every difference, as readable lines; [] when they agree."""
    hs, ho, hf = parse(header_decls(header_text))
    ls, lo, lf = parse(lua_cdef(lua_text))
    out = []

    for kind, h, l in (("struct", hs, ls), ("opaque type", ho, lo),
                       ("function", hf, lf)):
        for name in sorted(set(h) | set(l)):
            if name not in l:
                out.append("%s %s: in the header only" % (kind, name))
            elif name not in h:
                out.append("%s %s: in the cdef only" % (kind, name))
            elif kind == "struct":
                if [t for t, _ in h[name]] != [t for t, _ in l[name]] \
                        or [n for _, n in h[name]] != [n for _, n in l[name]]:
                    out.append("struct %s: header %s, cdef %s"
                               % (name, h[name], l[name]))
            elif h[name] != l[name]:
                out.append("%s %s: header %s, cdef %s"
                           % (kind, name, h[name], l[name]))

    abi = re.search(r"#define\s+NGSP_LUA_ABI\s+(\d+)", header_text)
    labi = re.search(r"^local ABI = (\d+)", lua_text, flags=re.M)
    if not abi or not labi or abi.group(1) != labi.group(1):
        out.append("ABI: header %s, Lua %s"
                   % (abi and abi.group(1), labi and labi.group(1)))

    codes = dict(re.findall(r"#define\s+NGSP_LUA_(OK|ERROR|DECLINED|AGAIN)"
                            r"\s+(-?\d+)", header_text))
    m = re.search(r"^local OK, ERROR, DECLINED, AGAIN = ([-\d, ]+)$",
                  lua_text, flags=re.M)
    lcodes = dict(zip(("OK", "ERROR", "DECLINED", "AGAIN"),
                      [c.strip() for c in m.group(1).split(",")])) \
        if m else {}
    if codes != lcodes:
        out.append("return codes: header %s, Lua %s" % (codes, lcodes))

    return out


def test_cdef_matches_the_header():
    header, lua = read(HEADER), read(LUA)
    _, _, funcs = parse(header_decls(header))
    # the parse reads the whole surface, not a part of it
    assert "ngsp_lua_mask" in funcs and "ngsp_lua_quota_reply" in funcs
    assert len(funcs) >= 15
    assert drift(header, lua) == []


@pytest.mark.parametrize("old,new", [
    # a parameter's type
    ("int ngsp_lua_key_verify(ngsp_lua_key_t *key, const char *token,\n"
     "    size_t token_len, long leeway, int *status);",
     "int ngsp_lua_key_verify(ngsp_lua_key_t *key, const char *token,\n"
     "    size_t token_len, int leeway, int *status);"),
    # a parameter dropped
    ("int ngsp_lua_jwt_status(ngx_http_request_t *r);",
     "int ngsp_lua_jwt_status(void);"),
    # a field's type
    ("    long                        leeway;\n} ngsp_lua_verify_opts_t;",
     "    int                         leeway;\n} ngsp_lua_verify_opts_t;"),
    # fields swapped
    ("    int                         allowed;\n"
     "    int                         nwindows;",
     "    int                         nwindows;\n"
     "    int                         allowed;"),
    # an array's length
    ("ngsp_lua_quota_window_t     windows[5];",
     "ngsp_lua_quota_window_t     windows[4];"),
    # a function gone
    ("void ngsp_lua_key_free(ngsp_lua_key_t *key);\n", ""),
    # the ABI version
    ("local ABI = 2\n", "local ABI = 3\n"),
    # a return code
    ("local OK, ERROR, DECLINED, AGAIN = 0, -1, -2, -3",
     "local OK, ERROR, DECLINED, AGAIN = 0, -1, -3, -2"),
])
def test_a_drift_is_caught(old, new):
    header, lua = read(HEADER), read(LUA)
    assert old in lua, old
    assert drift(header, lua.replace(old, new, 1)) != []
