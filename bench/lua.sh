#!/usr/bin/env bash
# lua-compat against what Lua code does without it, in one nginx worker
# with Debian's lua-nginx-module:
#  (1) ngsp.mask of a record against the same masking written in Lua with
#      lua-cjson (decode, edit, encode), timed inside one request per round
#      so that HTTP does not blur the two; the outputs are checked equal.
#  (2) wrk: ngsp.verify of the request's token from Lua against the
#      $ngsp_agency variable path (return 200 $ngsp_agency, and the same
#      variable read from Lua), and against the same Lua handler without
#      verification (the cost of running Lua at all); one RS256 token, the
#      shared cache on; throughput and the worker's CPU per request.
#  (3) ngsp.verify alone, timed inside one request: claims held against
#      claims written as JSON in C and decoded by lua-cjson on each call.
#
#   LUA_BENCH_INSTR=N bench/lua.sh BUILD_DIR
# instead counts instructions under valgrind's callgrind, in one nginx
# process (no master): per call of (1) and (3), and per request of (2)'s
# locations (bench/lua_instr.bash).  Exact and repeatable where times on a
# shared machine are not.
set -euo pipefail

build=$(cd "${1:?build dir}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
record=${NGSP_FIXTURES:-$top/tests/fixtures}/citizen.json
iters=${LUA_BENCH_ITERS:-20000}
rounds=${LUA_BENCH_ROUNDS:-5}
secs=${LUA_BENCH_SECONDS:-3}
instr=${LUA_BENCH_INSTR:-}

[ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] || {
    echo "ngsp: lua-nginx-module missing (tools/install-deps)"; exit 1; }

. "$(dirname "$0")/common.bash"
dir=$(mktemp -d "$build/lua-bench.XXXXXX")
trap 'nginx -p "$dir" -c "$dir/nginx.conf" -s stop 2>/dev/null || true;
      sleep 0.5; rm -rf "$dir"' EXIT
port=$(bench_free_port)
cp "$record" "$dir/record.json"
user=""
[ "$(id -u)" = 0 ] && user="user root;"
[ -n "$instr" ] && user="master_process off; daemon off;"

/usr/bin/python3 - "$dir" <<'PY'
import sys, time, jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
d = sys.argv[1]
k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
open(d + "/rsa.pem", "wb").write(k.public_key().public_bytes(
    serialization.Encoding.PEM,
    serialization.PublicFormat.SubjectPublicKeyInfo))
open(d + "/token", "w").write(jwt.encode(
    {"client_id": "so-tu-phap", "iss": "https://idp.example",
     "exp": int(time.time()) + 3600, "scope": "openid dancu.read"},
    k, algorithm="RS256"))
PY

cat > "$dir/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
load_module $build/ngx_http_ngsp_module.so;
$user
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
$(bench_temp_paths "$dir")
    lua_package_path "$top/lua-compat/?.lua;/usr/share/lua/5.1/?.lua;;";
    init_by_lua_block {
        require "resty.ngsp"
        cjson = require "cjson"
        local f = io.open("$dir/record.json")
        RECORD = f:read("*a")
        f:close()
        function CLAIMS(tok, opts)
            return { client_id = "so-tu-phap", iss = "https://idp.example",
                     exp = 1, scope = "openid dancu.read" }
        end
    }
    ngsp_jwt_key_file $dir/rsa.pem alg=RS256;
    ngsp_jwt_cache 1m;
    ngsp_mask_profile p {
        SoDinhDanh keep_last=4;  HoVaTen initials;  NgayThangNamSinh year;
        DanToc remove;           TonGiao remove;    SoCMND redact;
    }
    server {
        listen 127.0.0.1:$port;
        location /mask {
            content_by_lua_block {
                local ngsp = require "resty.ngsp"
                local find, sub, gsub = string.find, string.sub, string.gsub
                -- the same profile by hand: any depth, as the selectors
                local function initials(s)
                    local out = {}
                    for w in s:gmatch("%S+") do
                        out[#out + 1] = w:match("^[%z\1-\127\194-\244][\128-\191]*") .. "."
                    end
                    return table.concat(out, " ")
                end
                local rules = {
                    SoDinhDanh = function(v)
                        return string.rep("*", #v - 4) .. sub(v, -4) end,
                    HoVaTen = initials,
                    NgayThangNamSinh = function(v)
                        return v:match("%f[%d]%d%d%d%d%f[%D]") or "***" end,
                    SoCMND = function() return "***" end,
                    DanToc = false, TonGiao = false,
                }
                local function walk(t)
                    for k, v in pairs(t) do
                        local r = rules[k]
                        if r == false then
                            t[k] = nil
                        elseif r and type(v) == "string" then
                            t[k] = r(v)
                        elseif type(v) == "table" then
                            walk(v)
                        end
                    end
                end
                local function by_cjson(s)
                    local t = cjson.decode(s)
                    walk(t)
                    return cjson.encode(t)
                end
                local function by_ngsp(s)
                    return ngsp.mask(s, "p", "application/json")
                end
                if ngx.var.arg_check then
                    ngx.say(cjson.encode({ ngsp = by_ngsp(RECORD),
                                           lua = by_cjson(RECORD) }))
                    return
                end
                -- n and w: the calls timed and those before (the
                -- instruction counts take the difference of two n)
                local n = tonumber(ngx.var.arg_n) or $iters
                local fn = ngx.var.arg_f == "ngsp" and by_ngsp or by_cjson
                for i = 1, tonumber(ngx.var.arg_w) or 200 do fn(RECORD) end
                ngx.update_time()
                local t0 = ngx.now()
                for i = 1, n do fn(RECORD) end
                ngx.update_time()
                ngx.say((ngx.now() - t0) / n * 1e6)
            }
        }
        location /var { return 200 \$ngsp_agency; }
        location /luavar {
            content_by_lua_block { ngx.print(ngx.var.ngsp_agency) }
        }
        location /floor {
            content_by_lua_block {
                local tok = ngx.var.http_authorization:sub(8)
                ngx.print(#tok > 0 and "so-tu-phap" or "")
            }
        }
        location /table {
            content_by_lua_block {
                -- as /verify, with a Lua function handing out a new table
                -- of the token's four claims in place of ngsp.verify: what
                -- returning a fresh table to the handler costs
                local ngsp = require "resty.ngsp"
                local tok = ngx.var.http_authorization:sub(8)
                local c = CLAIMS(tok, { issuer = "https://idp.example" })
                ngx.print(c and c.client_id or "")
            }
        }
        location /percall {
            content_by_lua_block {
                -- ngsp.verify alone, timed inside one request: with the
                -- claims held, and with them dropped before each call
                -- (the JSON written by C and decoded by lua-cjson)
                local ngsp = require "resty.ngsp"
                local held = ngsp._held
                local tok = ngx.var.http_authorization:sub(8)
                local o = { issuer = "https://idp.example" }
                local drop = ngx.var.arg_f == "unheld"
                local n = tonumber(ngx.var.arg_n) or $iters
                for i = 1, tonumber(ngx.var.arg_w) or 200 do
                    ngsp.verify(tok, o)
                end
                ngx.update_time()
                local t0 = ngx.now()
                if drop then
                    for i = 1, n do held:delete(tok) ngsp.verify(tok, o) end
                else
                    for i = 1, n do ngsp.verify(tok, o) end
                end
                ngx.update_time()
                ngx.say((ngx.now() - t0) / n * 1e6)
            }
        }
        location /verify {
            content_by_lua_block {
                local ngsp = require "resty.ngsp"
                local tok = ngx.var.http_authorization:sub(8)
                local c = ngsp.verify(tok, { issuer = "https://idp.example" })
                ngx.print(c and c.client_id or "")
            }
        }
    }
}
CONF

nginx -t -q -p "$dir" -c "$dir/nginx.conf"
if [ -n "$instr" ]; then
    . "$(dirname "$0")/lua_instr.bash"
fi
nginx -p "$dir" -c "$dir/nginx.conf"
for i in $(seq 50); do
    curl --noproxy '*' -sf -o /dev/null "http://127.0.0.1:$port/var" && break
    sleep 0.1
done

url="http://127.0.0.1:$port"
curl --noproxy '*' -s "$url/mask?check=1" | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
a, b = json.loads(j["ngsp"]), json.loads(j["lua"])
print("outputs equal (as JSON):", a == b)
if a != b:
    print(a, b, sep="\n"); sys.exit(1)'

echo "(1) mask one $(wc -c < "$record")-byte record, $iters times a round," \
     "$rounds rounds, microseconds a record (median)"
: > "$dir/m.ngsp"; : > "$dir/m.lua"
for r in $(seq "$rounds"); do
    curl --noproxy '*' -s "$url/mask?f=ngsp" >> "$dir/m.ngsp"
    curl --noproxy '*' -s "$url/mask?f=lua" >> "$dir/m.lua"
done
mn=$(bench_median < "$dir/m.ngsp"); ml=$(bench_median < "$dir/m.lua")
printf '  ngsp.mask            %8.2f us\n' "$mn"
printf '  lua-cjson by hand    %8.2f us\n' "$ml"
awk -v a="$ml" -v b="$mn" 'BEGIN { printf "  ngsp.mask is %.1fx faster (target >= 10x)\n", a / b }'

tok=$(cat "$dir/token")
[ "$(curl --noproxy '*' -s -H "Authorization: Bearer $tok" "$url/verify")" = so-tu-phap ]
[ "$(curl --noproxy '*' -s -H "Authorization: Bearer $tok" "$url/var")" = so-tu-phap ]
worker=$(pgrep -P "$(cat "$dir/nginx.pid")")
hz=$(getconf CLK_TCK)
locs="var luavar floor table verify"
echo "(2) wrk -t1 -c16 ${secs}s, one worker, $rounds interleaved rounds," \
     "medians: requests per second; the worker's CPU microseconds per" \
     "request"
for loc in $locs; do : > "$dir/w.$loc"; : > "$dir/c.$loc"; done
for r in $(seq "$rounds"); do
    for loc in $locs; do
        t0=$(bench_ticks "$worker")
        wrk -t1 -c16 -d"${secs}s" -H "Authorization: Bearer $tok" \
            "$url/$loc" > "$dir/wrk.out"
        t1=$(bench_ticks "$worker")
        awk -v t="$((t1 - t0))" -v hz="$hz" -v w="$dir/w.$loc" \
            -v c="$dir/c.$loc" '
            /requests in/ { n = $1 } /^Requests\/sec/ { r = $2 }
            END { print r > w; print t / hz * 1e6 / n > c }' "$dir/wrk.out"
    done
done
for loc in $locs; do
    eval "w_$loc=\$(bench_median < \"\$dir/w.\$loc\")"
    eval "c_$loc=\$(bench_median < \"\$dir/c.\$loc\")"
done
row() { printf '  %-32s %9.0f %8.2f\n' "$1" "$2" "$3"; }
row 'return 200 $ngsp_agency' "$w_var" "$c_var"
row 'Lua: ngx.var.ngsp_agency' "$w_luavar" "$c_luavar"
row 'Lua: the header, no verification' "$w_floor" "$c_floor"
row 'Lua: a new table, no verification' "$w_table" "$c_table"
row 'Lua: ngsp.verify(token, opts)' "$w_verify" "$c_verify"
awk -v v="$w_var" -v lv="$w_luavar" -v f="$w_floor" -v t="$w_table" \
    -v e="$w_verify" -v cv="$c_var" -v clv="$c_luavar" -v cf="$c_floor" \
    -v ct="$c_table" -v ce="$c_verify" '
BEGIN {
    printf "  ngsp.verify / return $ngsp_agency: %.2fx, by CPU %.2fx\n", e / v, cv / ce
    printf "  ngsp.verify / Lua ngx.var:          %.2fx, by CPU %.2fx (target >= 0.9x)\n", e / lv, clv / ce
    printf "  ngsp.verify / Lua without it:       %.2fx, by CPU %.2fx\n", e / f, cf / ce
    printf "  ngsp.verify / Lua new table:        %.2fx, by CPU %.2fx\n", e / t, ct / ce
}'

echo "(3) ngsp.verify alone, $iters calls a round inside one request," \
     "$rounds rounds, microseconds a call (median)"
: > "$dir/p.held"; : > "$dir/p.unheld"
for r in $(seq "$rounds"); do
    for f in held unheld; do
        curl --noproxy '*' -s -H "Authorization: Bearer $tok" \
            "$url/percall?f=$f" >> "$dir/p.$f"
    done
done
ph=$(bench_median < "$dir/p.held"); pu=$(bench_median < "$dir/p.unheld")
printf '  claims held (a copy per call)      %6.2f us\n' "$ph"
printf '  claims written and decoded         %6.2f us\n' "$pu"
if grep -E '\[(alert|emerg|crit)\]' "$dir/error.log"; then exit 1; fi
