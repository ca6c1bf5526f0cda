# Sourced by bench/lua.sh when LUA_BENCH_INSTR=N: instructions counted by
# valgrind's callgrind in one nginx process (no master), exact and
# repeatable where times on a shared machine are not.
#  - per call, inside one request: ngsp.mask and the lua-cjson masking of
#    the record, ngsp.verify with the claims held and without; the count
#    of a request making N calls less that of the same request making
#    none, the median of LUA_BENCH_BLOCKS (5) such pairs
#  - per request: the wrk locations of lua.sh, N keep-alive requests each
#    after N of warm-up, the median of LUA_BENCH_BLOCKS (5) such blocks
# The dumps stay in build/bench/lua/cg.<figure> for callgrind_annotate.
# Expects from lua.sh: build, dir, port, record.

n=$LUA_BENCH_INSTR
blocks=${LUA_BENCH_BLOCKS:-5}
keep=$build/bench/lua
mkdir -p "$keep"
command -v valgrind >/dev/null || { echo "ngsp: needs valgrind"; exit 1; }

# LuaJIT writes machine code it then runs: valgrind must see it change
valgrind --tool=callgrind --dump-instr=no --compress-strings=no \
    --smc-check=all-non-file --callgrind-out-file="$dir/cg.out" \
    nginx -p "$dir" -c "$dir/nginx.conf" > "$dir/vg.log" 2>&1 &
vg=$!
trap 'kill $vg 2>/dev/null; wait $vg 2>/dev/null; rm -rf "$dir"' EXIT

url="http://127.0.0.1:$port"
tok=$(cat "$dir/token")
for i in $(seq 240); do
    curl --noproxy '*' -sf -o /dev/null "$url/var" && break
    sleep 0.5
done

# the instructions of the requests in the curl config $1, dumped as $2
count() {
    curl --noproxy '*' -s -H "Authorization: Bearer $tok" -K "$1" \
        > /dev/null
    callgrind_control -z $vg > /dev/null 2>&1
    curl --noproxy '*' -s -H "Authorization: Bearer $tok" -K "$1" \
        > /dev/null
    callgrind_control -d x $vg > /dev/null 2>&1
    grep -h '^summary:' "$dir"/cg.out.* | tail -1 | cut -d' ' -f2
    cat "$dir"/cg.out.* > "$keep/cg.$2"
    rm -f "$dir"/cg.out.*
}

# the median of $3 counts of the requests in $1, after one run of them
# as warm-up, dumped as $2.<i>: LuaJIT's trace compiler and garbage
# collector now and then add thousands of instructions a request to one
# block of requests (a trace recorded again, a full collection)
count_median() {
    local i
    curl --noproxy '*' -s -H "Authorization: Bearer $tok" -K "$1" \
        > /dev/null
    for i in $(seq "$3"); do
        callgrind_control -z $vg > /dev/null 2>&1
        curl --noproxy '*' -s -H "Authorization: Bearer $tok" -K "$1" \
            > /dev/null
        callgrind_control -d x $vg > /dev/null 2>&1
        grep -h '^summary:' "$dir"/cg.out.* | tail -1 | cut -d' ' -f2
        cat "$dir"/cg.out.* > "$keep/cg.$2.$i"
        rm -f "$dir"/cg.out.*
    done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# instructions a call of the location's loop: N calls less none, the
# median of $blocks such pairs
per_call() {
    local a b i
    for i in $(seq "$blocks"); do
        printf 'url = "%s"\noutput = /dev/null\n' "$url/$1&n=0&w=0" \
            > "$dir/urls"
        a=$(count "$dir/urls" "$2.0")
        printf 'url = "%s"\noutput = /dev/null\n' "$url/$1&n=$n&w=0" \
            > "$dir/urls"
        b=$(count "$dir/urls" "$2")
        echo $(((b - a) / n))
    done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

[ "$(curl --noproxy '*' -s -H "Authorization: Bearer $tok" \
       "$url/verify")" = so-tu-phap ]
for f in ngsp lua; do
    curl --noproxy '*' -s -o /dev/null "$url/mask?f=$f&n=0&w=$n"
done
for f in held unheld; do
    curl --noproxy '*' -s -o /dev/null -H "Authorization: Bearer $tok" \
        "$url/percall?f=$f&n=0&w=$n"
done

echo "one nginx process under callgrind, $n calls or requests a figure," \
     "the median of $blocks"
echo "(1) mask one $(wc -c < "$record")-byte record: instructions a call"
mn=$(per_call "mask?f=ngsp" mask); ml=$(per_call "mask?f=lua" cjson)
printf '  ngsp.mask            %9d\n' "$mn"
printf '  lua-cjson by hand    %9d\n' "$ml"
awk -v a="$ml" -v b="$mn" 'BEGIN {
    printf "  ngsp.mask: %.1fx fewer instructions (target >= 10x)\n", a / b }'

echo "(2) instructions a request (keep-alive), the median of $blocks" \
     "blocks of $n"
declare -A ir
for loc in var luavar floor verify; do
    for i in $(seq "$n"); do
        echo "url = \"$url/$loc\""
        echo "output = /dev/null"
    done > "$dir/urls"
    ir[$loc]=$(count_median "$dir/urls" "$loc" "$blocks")
done
row() { printf '  %-32s %9d\n' "$1" $(($2 / n)); }
row 'return 200 $ngsp_agency' "${ir[var]}"
row 'Lua: ngx.var.ngsp_agency' "${ir[luavar]}"
row 'Lua: the header, no verification' "${ir[floor]}"
row 'Lua: ngsp.verify(token, opts)' "${ir[verify]}"
awk -v v="${ir[var]}" -v lv="${ir[luavar]}" -v f="${ir[floor]}" \
    -v e="${ir[verify]}" -v n="$n" 'BEGIN {
    printf "  ngsp.verify / return $ngsp_agency: %.2fx (target >= 0.9x)\n", v / e
    printf "  ngsp.verify / Lua ngx.var:          %.2fx\n", lv / e
    printf "  ngsp.verify / Lua without it:       %.2fx (+%d a request)\n", f / e, (e - f) / n
}'

echo "(3) ngsp.verify alone: instructions a call"
printf '  claims held (a copy per call)      %9d\n' \
       "$(per_call "percall?f=held" held)"
printf '  claims written and decoded         %9d\n' \
       "$(per_call "percall?f=unheld" unheld)"
if grep -E '\[(alert|emerg|crit)\]' "$dir/error.log"; then exit 1; fi
exit 0
