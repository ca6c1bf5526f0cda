"""tools/gen-status-page: the C string it writes compiles to the page's
exact bytes (quotes, backslashes, tabs, trigraph look-alikes, lines cut at
80 columns), and it refuses a page it cannot carry as ASCII."""

import os
import random
import shutil
import subprocess

from status_page import ROOT

GEN = os.path.join(ROOT, "tools", "gen-status-page")
HEADER = os.path.join(ROOT, "ngx_module", "status", "ngsp_status_page.h")

MAIN = b"""#include <stdio.h>
#include "ngsp_status_page.h"
int main(void)
{
    fwrite(ngsp_status_page, 1, ngsp_status_page_len, stdout);
    return 0;
}
"""


def roundtrip(tmp_path, page):
    (tmp_path / "p.html").write_bytes(page)
    (tmp_path / "main.c").write_bytes(MAIN)
    shutil.copy(HEADER, tmp_path)
    subprocess.run(["sh", GEN, "p.html", "p.c"], cwd=tmp_path, check=True)
    c = (tmp_path / "p.c").read_text()
    assert max(len(line) for line in c.splitlines()) <= 80
    subprocess.run(["gcc", "-std=c99", "-trigraphs", "-Wall", "-Wextra",
                    "-Werror", "-I.", "main.c", "p.c", "-o", "m"],
                   cwd=tmp_path, check=True)
    out = subprocess.run([str(tmp_path / "m")], capture_output=True,
                         check=True).stdout
    assert out == page


def test_awkward_text_survives(tmp_path):
    rnd = random.Random(11)
    chars = 'ab\\"?=\t<>/ \''
    lines = ["".join(rnd.choice(chars) for _ in range(rnd.randint(0, 300)))
             for _ in range(400)]
    # runs of backslashes ending on the 80-column cut, both parities
    lines += ["x" * k + "\\" * j for k in range(60, 80) for j in (1, 2, 3)]
    lines += ["??= ??/ ??' ??( ??) ??! ??< ??> ??-", ""]
    roundtrip(tmp_path, ("\n".join(lines) + "\n").encode())


def test_the_page_itself(tmp_path):
    with open(os.path.join(ROOT, "ngx_module", "status",
                           "ngsp_status_page.html"), "rb") as f:
        roundtrip(tmp_path, f.read())


def test_refuses_what_it_cannot_carry(tmp_path):
    for name, data, why in (
            ("utf8.html", "Nguy\u1ec5n\n".encode(), "non-ASCII"),
            ("cr.html", b"<p>\r\n", "non-ASCII or control"),
            ("nul.html", b"a\0b\n", "non-ASCII or control"),
            ("tail.html", b"<p>", "no newline at the end")):
        (tmp_path / name).write_bytes(data)
        p = subprocess.run(["sh", GEN, name, "out.c"], cwd=tmp_path,
                           capture_output=True, text=True)
        assert p.returncode == 1, name
        assert why in p.stderr, (name, p.stderr)
        assert not (tmp_path / "out.c").exists(), name
