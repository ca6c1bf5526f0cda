#!/usr/bin/env bash
# Masking benchmarks, figures side by side in one run:
#  1. the engine's MB/s on one core for a list response of the fixtures'
#     shape, beside a plain copy and a jansson parse + dump of the same
#     bytes (bench/mask_bench.c);
#  2. proxy requests per second for a 2 KB record through nginx with
#     masking on and off (wrk; nginx itself serves the record upstream).
#
#   bench/mask.sh BUILD_DIR      (make bench)
# MASK_BENCH_MB, MASK_BENCH_REPEATS, MASK_BENCH_SECONDS tune the run.
#
#   MASK_BENCH_INSTR=N bench/mask.sh BUILD_DIR
# instead counts the instructions per request of one nginx process (no
# master) under valgrind's callgrind, N requests per location after N of
# warm-up: exact and repeatable on a shared machine, where wall-clock and
# even CPU time per request swing with the neighbours' load.
set -euo pipefail

build=$(cd "${1:?build dir}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${NGSP_FIXTURES:-$top/tests/fixtures}
mb=${MASK_BENCH_MB:-32}
reps=${MASK_BENCH_REPEATS:-7}
secs=${MASK_BENCH_SECONDS:-5}

instr=${MASK_BENCH_INSTR:-}

list=$fixtures/citizens.json
record=$fixtures/citizen.json
[ -f "$list" ] || { echo "ngsp: no $list (set NGSP_FIXTURES)"; exit 1; }

if [ -z "$instr" ]; then
    cc -std=gnu99 -O2 -D_GNU_SOURCE \
        $(printf -- '-I%s ' "$top"/ngx_module/*) -I"$top/tests/unit/mask" \
        "$top/bench/mask_bench.c" "$top/tests/unit/mask/mask_util.c" \
        "$top"/ngx_module/mask/ngsp_mask_*.c \
        -o "$build/mask_bench" -lcrypto -ljansson
    "$build/mask_bench" "$list" "$mb" "$reps"
fi

# --- through nginx ------------------------------------------------------------

if ! command -v wrk >/dev/null; then
    echo "ngsp: wrk not installed (apt-get install wrk): proxy figures skipped"
    exit 0
fi

dir=$(mktemp -d "$build/mask-bench.XXXXXX")
trap 'nginx -p "$dir" -c "$dir/nginx.conf" -s stop 2>/dev/null || true;
      [ -n "${vg:-}" ] && kill "$vg" 2>/dev/null;
      sleep 0.5; rm -rf "$dir"' EXIT

. "$(dirname "$0")/common.bash"
port=$(bench_free_port)
up=$(bench_free_port)
head -c 48 /dev/urandom > "$dir/key"
cp "$record" "$dir/record.json"
user=""
[ "$(id -u)" = 0 ] && user="user root;"
[ -n "$instr" ] && user="master_process off; daemon off;"

cat > "$dir/nginx.conf" <<CONF
load_module $build/ngx_http_ngsp_module.so;
$user
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;

    ngsp_mask_hash_key $dir/key;
    ngsp_mask_profile citizen_basic {
        SoDinhDanh keep_last=4;  HoVaTen initials;  NgayThangNamSinh year;
        SoDienThoai keep_last=3; Email email;       DanToc remove;
        TonGiao remove;          SoCMND redact;     Cha.SoDinhDanh hash;
    }
    ngsp_mask_profile nothing { }

    upstream record { server 127.0.0.1:$up; keepalive 32; }

    server {
        listen 127.0.0.1:$up;
        location /r { alias $dir/record.json; default_type application/json; }
    }
    server {
        listen 127.0.0.1:$port;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /plain/  { proxy_pass http://record/r; }
        location /masked/ { ngsp_mask citizen_basic; proxy_pass http://record/r; }
        location /parsed/ { ngsp_mask nothing; proxy_pass http://record/r; }
    }
}
CONF

nginx -t -q -p "$dir" -c "$dir/nginx.conf"

if [ -n "$instr" ]; then
    command -v valgrind >/dev/null \
        || { echo "ngsp: valgrind not installed"; exit 1; }
    valgrind --tool=callgrind --dump-instr=no --compress-strings=no \
        --callgrind-out-file="$dir/cg.out" \
        nginx -p "$dir" -c "$dir/nginx.conf" > "$dir/vg.log" 2>&1 &
    vg=$!
    for i in $(seq 60); do
        curl --noproxy '*' -sf -o /dev/null "http://127.0.0.1:$port/plain/" \
            && break
        sleep 0.5
    done

    # curl's config file: N keep-alive requests in one connection
    urls() {
        for i in $(seq "$instr"); do
            echo "url = \"http://127.0.0.1:$port/$1/\""
            echo "output = /dev/null"
        done
    }

    echo "proxy, $(wc -c < "$record")-byte record, $instr requests a" \
         "location, one nginx process under callgrind"
    for loc in plain masked parsed; do
        urls "$loc" > "$dir/urls"
        curl --noproxy '*' -s -K "$dir/urls"
        callgrind_control -z "$vg" > /dev/null 2>&1
        curl --noproxy '*' -s -K "$dir/urls"
        callgrind_control -d "$loc" "$vg" > /dev/null 2>&1
        n=$(grep -h '^summary:' "$dir"/cg.out.* | tail -1 | cut -d' ' -f2)
        rm -f "$dir"/cg.out.*
        case $loc in
        plain)  label="masking off"; p=$n ;;
        masked) label="masking on (citizen_basic)"; m=$n ;;
        *)      label="masking on, a profile without rules"; e=$n ;;
        esac
        printf '  %-38s %9d instructions/request\n' "$label" \
               $((n / instr))
    done
    awk -v p="$p" -v m="$m" -v e="$e" -v n="$instr" 'BEGIN {
        printf "  added by masking: %d (citizen_basic), %d (no rules)\n",
               (m - p) / n, (e - p) / n }'
    exit 0
fi

nginx -p "$dir" -c "$dir/nginx.conf"
sleep 0.5

curl --noproxy '*' -sf "http://127.0.0.1:$port/masked/" | grep -q '"HoVaTen": "N. V. A."' \
    || { echo "ngsp: masked proxy does not mask"; exit 1; }

worker=$(pgrep -P "$(cat "$dir/nginx.pid")" | head -1)
hz=$(getconf CLK_TCK)


# "requests/s  worker-CPU-microseconds/request" for one wrk run
run() {
    local t0 t1 out
    t0=$(bench_ticks "$worker")
    out=$(wrk -t1 -c16 -d"${secs}s" "http://127.0.0.1:$port/$1/")
    t1=$(bench_ticks "$worker")
    echo "$out" | awk -v dt=$((t1 - t0)) -v hz="$hz" -v s="$secs" '
        /Requests\/sec/ { rps = $2 }
        END { printf "%d %.1f\n", rps, dt / hz * 1e6 / (rps * s) }'
}


plain=()
masked=()
parsed=()
for i in 1 2 3; do
    plain+=("$(run plain)")
    masked+=("$(run masked)")
    parsed+=("$(run parsed)")
done

p=$(printf '%s\n' "${plain[@]}" | cut -d' ' -f1 | bench_median)
m=$(printf '%s\n' "${masked[@]}" | cut -d' ' -f1 | bench_median)
pc=$(printf '%s\n' "${plain[@]}" | cut -d' ' -f2 | bench_median)
mc=$(printf '%s\n' "${masked[@]}" | cut -d' ' -f2 | bench_median)
e=$(printf '%s\n' "${parsed[@]}" | cut -d' ' -f1 | bench_median)
ec=$(printf '%s\n' "${parsed[@]}" | cut -d' ' -f2 | bench_median)

echo "proxy, $(wc -c < "$record")-byte record, wrk -t1 -c16, ${secs}s x3 (median), 1 worker"
printf '  %-38s %9s req/s %8s us CPU/req\n' "masking off" "$p" "$pc"
printf '  %-38s %9s req/s %8s us CPU/req\n' "masking on (citizen_basic)" "$m" "$mc"
printf '  %-38s %9s req/s %8s us CPU/req\n' "masking on, a profile without rules" "$e" "$ec"
awk -v p="$p" -v m="$m" -v pc="$pc" -v mc="$mc" 'BEGIN {
    printf "  masked / unmasked: %.2f by req/s, %.2f by worker CPU per request\n",
           m / p, pc / mc }'
