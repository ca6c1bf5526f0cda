"""Shared by the dashboard tests: headless Chromium kept off the network,
the rendered DOM parsed with html.parser, and what the page must show for
a status JSON, computed here independently of the page's script."""

import html.parser
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PAGE = os.path.join(ROOT, "ngx_module", "status", "ngsp_status_page.html")
ARTIFACTS = os.path.join(ROOT, "build", "artifacts")

# the header the status handler sends with the page; the page carries a
# stricter policy of its own in a <meta> (hashes of its script and style)
CSP = ("default-src 'none'; script-src 'unsafe-inline'; "
       "style-src 'unsafe-inline'; connect-src 'self'; img-src 'none'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

# Chromium must reach nothing but the loopback server under test: no
# component updates, safe browsing, metrics, DNS or proxies.
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--disable-domain-reliability",
    "--disable-client-side-phishing-detection", "--disable-breakpad",
    "--disable-crash-reporter", "--no-pings", "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater",
    "--no-proxy-server", "--dns-prefetch-disable",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--hide-scrollbars", "--mute-audio",
]


def chromium():
    """Debian's chromium; its absence fails the test (never skips)."""
    path = os.environ.get("NGSP_CHROMIUM") or shutil.which("chromium") \
        or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        pytest.fail("chromium is not installed (the dashboard is tested in "
                    "a real browser): run tools/install-deps, or apt-get "
                    "install chromium", pytrace=False)
    return path


def _run(tmp_path, url, extra, budget_ms):
    profile = tmp_path / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HOME=str(profile))
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
              "all_proxy", "ALL_PROXY"):
        env.pop(k, None)
    args = [chromium()] + FLAGS + [
        "--user-data-dir=%s" % profile,
        "--virtual-time-budget=%d" % budget_ms] + extra + [url]
    p = subprocess.run(args, capture_output=True, env=env, timeout=90)
    assert p.returncode == 0, ("chromium failed (%d):\n%s"
                               % (p.returncode,
                                  p.stderr.decode(errors="replace")[-3000:]))
    return p


def dump_dom(tmp_path, url, budget_ms=3000):
    """The DOM after the page's script ran for budget_ms of virtual time."""
    p = _run(tmp_path, url, ["--dump-dom"], budget_ms)
    return parse(p.stdout.decode("utf-8"))


def screenshot(tmp_path, url, name, budget_ms=3000):
    """A 1280x900 PNG kept under build/artifacts/; returns its path."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name)
    if os.path.exists(path):
        os.unlink(path)
    _run(tmp_path, url, ["--screenshot=%s" % path, "--window-size=1280,900"],
         budget_ms)
    assert os.path.getsize(path) > 1000, "no screenshot written"
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    print("dashboard screenshot: %s" % path)
    return path


# --- a small DOM from html.parser ----------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag = tag
        self.attrs = dict(attrs)
        self.parent = parent
        self.children = []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text()
                       for c in self.children)

    def walk(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.walk()

    def all(self, tag=None, **attrs):
        """Descendants with this tag and these attribute values (a name's
        _ stands for -: data_field= is data-field=)."""
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [n for n in self.walk()
                if (tag is None or n.tag == tag)
                and all(n.attrs.get(k) == v for k, v in want.items())]

    def one(self, tag=None, **attrs):
        found = self.all(tag, **attrs)
        assert len(found) == 1, "%d matches for %s %r" % (len(found), tag,
                                                          attrs)
        return found[0]

    def field(self, name):
        """The text of the one [data-field=name] below."""
        return self.one(data_field=name).text()

    def value(self, name):
        """A number cell: its data-value, checked against its text."""
        n = self.one(data_field=name)
        v = n.attrs.get("data-value")
        assert v is not None, "no data-value on %s: %r" % (name, n.text())
        shown = n.text().replace(" ", "")
        assert shown == v, "%s shows %r, holds %r" % (name, n.text(), v)
        return float(v) if "." in v else int(v)

    def classes(self):
        return set((self.attrs.get("class") or "").split())


class _Builder(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse(text):
    b = _Builder()
    b.feed(text)
    b.close()
    return b.root


# --- what the page must show, from the JSON --------------------------------

def window_view(w, now):
    limit, remaining = w["limit"], w["remaining"]
    used = max(0, limit - remaining)
    pct = used * 100 // limit if limit > 0 else 100
    stale = w.get("reset") is not None and w["reset"] <= now
    rank = 0 if stale else (used / limit if limit > 0 else 1)
    return {"limit": limit, "used": used, "pct": pct, "stale": stale,
            "rank": rank}


def expected_agencies(data, now):
    """[(name, requests, refusals, {(policy, unit): view})] worst first."""
    out = []
    for name, a in data["agencies"].items():
        refusals = sum(v for k, v in a.get("jwt", {}).items() if k != "ok")
        refusals += sum(p.get("rejected", 0)
                        for p in a.get("quota", {}).values())
        wins, worst = {}, -1
        for pol, q in a.get("quota", {}).items():
            for unit, w in (q.get("windows") or {}).items():
                v = window_view(w, now)
                wins[(pol, unit)] = v
                worst = max(worst, v["rank"])
        out.append((name, a["requests"], refusals, wins, worst))
    out.sort(key=lambda x: (-x[4], -x[2], -x[1], x[0].encode("utf-16-be")))
    return [x[:4] for x in out]


def check_agencies(dom, data):
    """Every agency's numbers as rendered equal the JSON, worst first."""
    now = float(dom.one("body").attrs["data-now"])
    want = expected_agencies(data, now)
    rows = dom.one(id="agency-rows").all("tr", **{"class": "agency"})
    assert [r.attrs["data-agency"] for r in rows] == [w[0] for w in want]
    for row, (name, requests, refusals, wins) in zip(rows, want):
        assert row.field("name") == name
        assert row.value("requests") == requests, name
        assert row.value("refusals") == refusals, name
        shown = {}
        for w in row.walk():
            if "data-window" in w.attrs:
                key = (w.attrs["data-policy"], w.attrs["data-window"])
                assert key not in shown, (name, key)
                shown[key] = w
        for key, v in wins.items():
            w = shown[key]
            assert w.value("used") == v["used"], (name, key)
            assert w.value("limit") == v["limit"], (name, key)
            assert int(w.one(data_field="pct").attrs["data-value"]) \
                == v["pct"], (name, key)
            if v["limit"] > 0:
                assert w.field("pct") == "%d%%" % v["pct"]
            assert ("stale" in w.classes()) == v["stale"], (name, key)
            fill = w.one("div", **{"class": "fill"})
            assert ("width: %d%%" % min(100, v["pct"])) in \
                fill.attrs.get("style", ""), (name, key, fill.attrs)
    return rows


def quantile_us(lat, q):
    """The histogram_quantile estimate the page shows (None: no samples,
    ('over', bound): in the +Inf bucket)."""
    bounds, counts = lat["bounds_us"], lat["counts"]
    total = sum(counts)
    if not total:
        return None
    target, cum = q * total, 0
    for i, c in enumerate(counts):
        if c and cum + c >= target:
            if i >= len(bounds):
                return ("over", bounds[-1])
            lo = bounds[i - 1] if i else 0
            return lo + (bounds[i] - lo) * (target - cum) / c
        cum += c
    return None


def micros_text(us):
    if isinstance(us, tuple):
        return "> " + micros_text(us[1])
    if us is None:
        return "-"
    if us < 1000:
        return "%d \u00b5s" % int(us + 0.5)
    if us < 1000000:
        return "%.1f ms" % (us / 1000)
    return "%.2f s" % (us / 1000000)
