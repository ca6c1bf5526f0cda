#!/usr/bin/env bash
# XML masking engine, side by side in one run: its throughput per core on a
# large SOAP collection of the fixture's shape against a plain copy and
# libxml2's SAX push parse of the same bytes (parse only).  See
# bench/mask_xml.c.  BENCH_MB, BENCH_ROUNDS, BENCH_PIECE tune it.
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
dir=$build/bench/mask_xml
fixture=${NGSP_FIXTURES:-$top/tests/fixtures}/citizen.soap.xml
[ -f "$fixture" ] || fixture=$top/conf/demo/congdan.soap.xml

mkdir -p "$dir"
gcc -std=gnu99 -O2 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
    $(printf -- '-I%s ' "$top"/ngx_module/*) -I"$top/tests/unit/mask" \
    $(pkg-config --cflags libxml-2.0 2>/dev/null || echo -I/usr/include/libxml2) \
    "$here/mask_xml.c" "$top/tests/unit/mask/mask_util.c" \
    "$top"/ngx_module/mask/ngsp_mask_*.c \
    -o "$dir/mask_xml" -lxml2 -lcrypto
echo "fixture: $fixture"
"$dir/mask_xml" "$fixture" "${BENCH_MB:-32}" "${BENCH_ROUNDS:-7}" \
    "${BENCH_PIECE:-8192}"
