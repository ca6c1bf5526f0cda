# Sourced by bench/lua.sh when LUA_BENCH_INSTR=N: instructions counted by
# valgrind's callgrind in an nginx process (no master), exact and
# repeatable where times on a shared machine are not.
#  - per call, inside one request: ngsp.mask and the lua-cjson masking of
#    the record, ngsp.verify with the claims held and without; the count
#    of a request making N calls less that of the same request making
#    none, the median of LUA_BENCH_BLOCKS (5) such pairs
#  - per request: the wrk locations of lua.sh, LUA_BENCH_REQS (3000)
#    keep-alive requests a block after as many of warm-up, the locations'
#    blocks taken in turn, LUA_BENCH_REQ_BLOCKS (3) of each in each of
#    LUA_BENCH_PROCS (3) fresh nginx processes.  A Lua handler's count
#    moves by thousands of instructions between processes and between
#    blocks of one process (which code LuaJIT's trace compiler finds hot
#    first depends on addresses; a garbage collection cycle lands in one
#    block or another, hence blocks of thousands of requests):
#    each figure is the median over every block of every process, each
#    ratio the median of the ratios of blocks taken side by side.
# The dumps stay in build/bench/lua/cg.<figure> for callgrind_annotate.
# Expects from lua.sh: build, dir, port, record.

n=$LUA_BENCH_INSTR
blocks=${LUA_BENCH_BLOCKS:-5}
reqs=${LUA_BENCH_REQS:-3000}
rblocks=${LUA_BENCH_REQ_BLOCKS:-3}
procs=${LUA_BENCH_PROCS:-3}
keep=$build/bench/lua
mkdir -p "$keep"
command -v valgrind >/dev/null || { echo "ngsp: needs valgrind"; exit 1; }

url="http://127.0.0.1:$port"
tok=$(cat "$dir/token")
vg=
trap 'kill $vg 2>/dev/null; wait $vg 2>/dev/null; rm -rf "$dir"' EXIT

# LuaJIT writes machine code it then runs: valgrind must see it change
start_nginx() {
    rm -f "$dir"/cg.out*
    valgrind --tool=callgrind --dump-instr=no --compress-strings=no \
        --smc-check=all-non-file --callgrind-out-file="$dir/cg.out" \
        nginx -p "$dir" -c "$dir/nginx.conf" > "$dir/vg.log" 2>&1 &
    vg=$!
    for i in $(seq 240); do
        curl --noproxy '*' -sf -o /dev/null "$url/var" && return 0
        sleep 0.5
    done
    echo "ngsp: nginx under valgrind did not start"; exit 1
}

stop_nginx() {
    kill $vg 2>/dev/null
    wait $vg 2>/dev/null || true
    vg=
}

start_nginx

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

echo "nginx under callgrind, $n calls or requests a figure"
echo "(1) mask one $(wc -c < "$record")-byte record: instructions a call"
mn=$(per_call "mask?f=ngsp" mask); ml=$(per_call "mask?f=lua" cjson)
printf '  ngsp.mask            %9d\n' "$mn"
printf '  lua-cjson by hand    %9d\n' "$ml"
awk -v a="$ml" -v b="$mn" 'BEGIN {
    printf "  ngsp.mask: %.1fx fewer instructions (target >= 10x)\n", a / b }'

# measured here in the first process, shown last
held=$(per_call "percall?f=held" held)
unheld=$(per_call "percall?f=unheld" unheld)

locs="var luavar floor table verify"
for loc in $locs; do
    for i in $(seq "$reqs"); do
        echo "url = \"$url/$loc\""
        echo "output = /dev/null"
    done > "$dir/urls.$loc"
    : > "$dir/ir.$loc"
done
for p in $(seq "$procs"); do
    [ "$p" = 1 ] || { stop_nginx; start_nginx; }
    for loc in $locs; do
        curl --noproxy '*' -s -H "Authorization: Bearer $tok" \
            -K "$dir/urls.$loc" > /dev/null
    done
    for b in $(seq "$rblocks"); do
        for loc in $locs; do
            echo $(($(count "$dir/urls.$loc" "$loc.$p.$b") / reqs)) \
                >> "$dir/ir.$loc"
        done
    done
done
echo "(2) instructions a request (keep-alive), blocks of $reqs taken in" \
     "turn, $rblocks blocks in each of $procs processes: medians (ranges" \
     "of the processes' medians)"
med() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for loc in $locs; do
    for p in $(seq 0 $((procs - 1))); do
        sed -n "$((p * rblocks + 1)),$(((p + 1) * rblocks))p" \
            "$dir/ir.$loc" | med
    done | sort -n > "$dir/pm.$loc"
done
row() {
    printf '  %-32s %9d  (%d to %d)\n' "$1" "$(med < "$dir/ir.$2")" \
        "$(head -1 "$dir/pm.$2")" "$(tail -1 "$dir/pm.$2")"
}
row 'return 200 $ngsp_agency' var
row 'Lua: ngx.var.ngsp_agency' luavar
row 'Lua: the header, no verification' floor
row 'Lua: a new table, no verification' table
row 'Lua: ngsp.verify(token, opts)' verify
# the median of block-by-block ratios $1 / $2, and their range
ratio() {
    paste "$dir/ir.$1" "$dir/ir.$2" | awk '{ print $1 / $2 }' | sort -n \
        | awk '{ v[NR] = $1 } END {
            printf "%.2fx (blocks %.2f to %.2f)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
echo "  ngsp.verify / return \$ngsp_agency: $(ratio var verify)"
echo "  ngsp.verify / Lua ngx.var:          $(ratio luavar verify) (target >= 0.9x)"
echo "  ngsp.verify / Lua without it:       $(ratio floor verify)"
echo "  ngsp.verify / Lua new table:        $(ratio table verify)"
echo "(3) ngsp.verify alone: instructions a call (the first process)"
printf '  claims held (a copy per call)      %9d\n' "$held"
printf '  claims written and decoded         %9d\n' "$unheld"
if grep -E '\[(alert|emerg|crit)\]' "$dir/error.log"; then exit 1; fi
exit 0
