#!/bin/bash
# The Debian package as a sysadmin meets it, on this machine's stock nginx:
# install, load and serve, upgrade to a rebuilt higher version while nginx
# runs, remove, purge.  Changes the system (root only); `make deb-test`
# runs it, never `make test`.  Puts the system back as it found it: the
# package gone, its test configuration gone, nginx stopped if it started it.
#   tests/deb/test_deb.sh DEBDIR      (DEBDIR: where `make deb` put the .deb)
set -euo pipefail
cd "$(dirname "$0")/../.."

pkg=libnginx-mod-http-ngsp
debdir=$(cd "$1" && pwd)
deb=$(ls "$debdir"/${pkg}_*.deb)
link=/etc/nginx/modules-enabled/50-mod-http-ngsp.conf
snippet=/usr/share/nginx/modules-available/mod-http-ngsp.conf
so=/usr/lib/nginx/modules/ngx_http_ngsp_module.so
conf=/etc/nginx/conf.d/ngsp-deb-test.conf
plain=/etc/nginx/conf.d/ngsp-deb-test-plain.conf
etc=/etc/nginx/ngsp-deb-test
tmp=$(mktemp -d /tmp/deb-test.XXXXXX)
export DEBIAN_FRONTEND=noninteractive

checks=0
ok()   { checks=$((checks + 1)); echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo; echo "== $*"; }

[ "$(id -u)" = 0 ] || fail "needs root: it installs a package and runs the system nginx"
if dpkg-query -W -f='${Status}' $pkg 2>/dev/null | grep -qv not-installed; then
    fail "$pkg is already on this machine; purge it first (apt-get purge $pkg)"
fi
[ ! -e "$conf" ] && [ ! -e "$plain" ] || fail "$conf or $plain exists"

nginx_pid() { cat /run/nginx.pid 2>/dev/null || true; }
nginx_up()  { local p; p=$(nginx_pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

started=no
nginx_up && was_running=yes || was_running=no

# Debian's module packages ask nginx to reload through the nginx-reload
# trigger, which nginx's postinst runs with invoke-rc.d; where invoke-rc.d
# may not act (a container's policy-rc.d, no init system), reload as an
# operator would.  A reload that fails leaves the old configuration running.
reload() {
    nginx -t -q
    nginx -s reload 2>/dev/null
    sleep 1
}

cleanup() {
    set +e
    rm -f "$conf" "$plain"
    rm -rf "$etc" "$tmp"
    if dpkg-query -W -f='${Status}' $pkg 2>/dev/null | grep -qv not-installed; then
        apt-get purge -y -qq $pkg >/dev/null
    fi
    if [ $started = yes ]; then
        nginx -s quit 2>/dev/null
    elif [ $was_running = yes ]; then
        nginx -s reload 2>/dev/null
    fi
}
trap cleanup EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
port2=$(free_port)
code() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }

# --- a key, a token, a server that uses the module ------------------------

mkdir -p "$etc/www"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$tmp/key.pem" 2>/dev/null
openssl pkey -in "$tmp/key.pem" -pubout -out "$etc/pub.pem"
echo "hello from behind ngsp" > "$etc/www/hello.txt"
chmod -R a+rX "$etc"
token=$(/usr/bin/python3 - "$tmp/key.pem" <<'PY'
import sys, time, jwt
key = open(sys.argv[1]).read()
print(jwt.encode({"client_id": "so-tu-phap", "exp": int(time.time()) + 3600},
                 key, algorithm="RS256"))
PY
)

write_conf() {
    cat > "$conf" <<NGX
ngsp_jwt_key_file $etc/pub.pem alg=RS256;
ngsp_status_zone ngsp_deb_test 1m;
server {
    listen 127.0.0.1:$port;
    location /api/ {
        ngsp_jwt on;
        alias $etc/www/;
    }
    location = /status {
        allow 127.0.0.1;
        deny all;
        ngsp_status;
    }
}
NGX
    cat > "$plain" <<NGX
server {
    listen 127.0.0.1:$port2;
    location / { return 200 "plain\n"; }
}
NGX
}

serves() {   # $1: what state we are in
    local c
    c=$(code "http://127.0.0.1:$port/api/hello.txt")
    [ "$c" = 401 ] || fail "$1: no token answered $c, not 401"
    ok "$1: no token -> 401"
    c=$(code -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/hello.txt")
    [ "$c" = 200 ] || fail "$1: a valid token answered $c, not 200"
    grep -q "hello from behind ngsp" "$tmp/body" || fail "$1: wrong body"
    ok "$1: valid token -> 200 with the file"
    c=$(code -H "Authorization: Bearer ${token}x" "http://127.0.0.1:$port/api/hello.txt")
    [ "$c" = 401 ] || fail "$1: a forged token answered $c, not 401"
    ok "$1: forged token -> 401"
    c=$(code "http://127.0.0.1:$port/status?format=json")
    [ "$c" = 200 ] || fail "$1: ngsp_status answered $c"
    /usr/bin/python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp/body" \
        || fail "$1: ngsp_status did not answer JSON"
    grep -q so-tu-phap "$tmp/body" || fail "$1: the status does not count the agency"
    ok "$1: ngsp_status -> 200, JSON counting the agency"
}

# --- install ----------------------------------------------------------------

step "install $(basename "$deb")"
dpkg-deb -f "$deb" Depends | grep -q "nginx-abi-" \
    || fail "Depends names no nginx ABI package"
ok "Depends: $(dpkg-deb -f "$deb" Depends)"
apt-get install -y -qq "$deb" >/dev/null
for f in "$so" "$snippet" /usr/bin/ngspctl /usr/share/man/man1/ngspctl.1.gz \
         /usr/share/lua/5.1/resty/ngsp.lua /usr/share/lua/5.1/resty/ngsp/quota.lua \
         /usr/share/doc/$pkg/examples/ngsp-audit.conf \
         /usr/share/doc/$pkg/examples/ngsp-example.conf \
         /usr/share/doc/$pkg/directives.md.gz; do
    [ -e "$f" ] || fail "not installed: $f"
done
ok "module, snippet, ngspctl and its man page, Lua modules, docs installed"
grep -qx 'load_module modules/ngx_http_ngsp_module.so;' "$snippet" \
    || fail "$snippet: $(cat "$snippet")"
[ "$(readlink "$link")" = "$snippet" ] || fail "$link does not point to $snippet"
ok "$link -> $snippet"
/usr/bin/ngspctl --help > "$tmp/help" 2>&1 || true
grep -qi usage "$tmp/help" || fail "ngspctl --help: $(head -3 "$tmp/help")"
ok "ngspctl runs"

write_conf
nginx -t -q || fail "nginx -t fails with the package's module and the test server"
ok "nginx -t"
if nginx_up; then
    reload
else
    nginx
    started=yes
    sleep 1
fi
nginx_up || fail "nginx did not start"
ok "nginx running (master $(nginx_pid))"
serves "installed"

# the example the package ships is a valid configuration (its key files
# made up here)
sed -e "s|/etc/nginx/ngsp/lgsp.pem|$etc/pub.pem|" \
    -e "s|/etc/nginx/ngsp/pseudonym.key|$tmp/pseudonym.key|" \
    -e "s|listen 8081;|listen 127.0.0.1:$(free_port);|" \
    /usr/share/doc/$pkg/examples/ngsp-example.conf > "$tmp/example.conf"
head -c 32 /dev/urandom > "$tmp/pseudonym.key"
printf 'load_module %s;\npid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\ninclude %s;\n}\n' \
    "$so" "$tmp" "$tmp/example.conf" > "$tmp/nginx-example.conf"
nginx -q -t -c "$tmp/nginx-example.conf" \
    || fail "the shipped ngsp-example.conf does not pass nginx -t"
ok "the shipped example configuration passes nginx -t"

# --- upgrade ----------------------------------------------------------------

v1=$(dpkg-query -W -f='${Version}' $pkg)
v2="$v1+debtest1"
step "upgrade $v1 -> $v2 (a rebuild)"
tools/build-deb "$tmp/v2" "$v2" > "$tmp/build-v2.log" 2>&1 \
    || { tail -30 "$tmp/build-v2.log"; fail "building $v2"; }
dpkg --compare-versions "$v2" gt "$v1" || fail "$v2 is not higher than $v1"
master=$(nginx_pid)
apt-get install -y -qq "$tmp"/v2/${pkg}_*.deb >/dev/null
[ "$(dpkg-query -W -f='${Version}' $pkg)" = "$v2" ] || fail "not upgraded to $v2"
ok "$v2 installed"
[ "$(readlink "$link")" = "$snippet" ] || fail "$link lost on upgrade"
ok "the modules-enabled link kept"
nginx_up && [ "$(nginx_pid)" = "$master" ] || fail "nginx stopped during the upgrade"
ok "nginx kept running through the upgrade (master $master)"
serves "upgraded, before reload"
reload
[ "$(nginx_pid)" = "$master" ] || fail "nginx master changed on reload"
serves "upgraded, reloaded"

# an operator who had disabled the module keeps it disabled on upgrade
rm "$link"
apt-get install -y -qq --reinstall "$tmp"/v2/${pkg}_*.deb >/dev/null
[ ! -e "$link" ] || fail "an upgrade re-enabled a module the operator disabled"
ok "an upgrade keeps an operator's disabling"
ln -s "$snippet" "$link"

# --- remove -----------------------------------------------------------------

step "remove"
# the configuration must stop using the module before its package goes
rm -f "$conf"
reload
apt-get remove -y -qq $pkg >/dev/null
dpkg-query -W -f='${Status}' $pkg | grep -q config-files || fail "not removed"
[ ! -e "$so" ] && [ ! -e /usr/bin/ngspctl ] || fail "files left after remove"
[ ! -L "$link" ] || fail "$link still enabled after remove"
[ -L "$link.removed" ] || fail "no $link.removed (Debian's modules keep it to re-enable on reinstall)"
ok "module gone, link set aside as $link.removed"
nginx_up && [ "$(nginx_pid)" = "$master" ] || fail "nginx stopped on remove"
reload
nginx -t -q || fail "nginx -t fails after remove"
c=$(code "http://127.0.0.1:$port2/")
[ "$c" = 200 ] || fail "nginx does not serve after remove ($c)"
ok "nginx still running and serving after remove"

# --- purge ------------------------------------------------------------------

step "purge"
apt-get purge -y -qq $pkg >/dev/null
if dpkg -L $pkg >/dev/null 2>&1; then fail "dpkg still lists files of $pkg"; fi
[ ! -e "$link" ] && [ ! -L "$link.removed" ] && [ ! -e "$snippet" ] \
    || fail "links or snippet left after purge"
[ -z "$(ls /usr/lib/nginx/modules/ | grep ngsp || true)" ] || fail "module left after purge"
ok "nothing of $pkg left"
nginx_up || fail "nginx stopped on purge"
c=$(code "http://127.0.0.1:$port2/")
[ "$c" = 200 ] || fail "nginx does not serve after purge ($c)"
ok "nginx still running and serving after purge"

echo
echo "deb-test: $checks checks passed"
