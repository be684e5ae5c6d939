#!/usr/bin/env bash
# tests/hub/selftest.sh -- self-test of the test infrastructure in tests/hub/:
# the Hugging Face Hub emulator (hub.mjs) and the nginx CDN stand-in (cdn.sh),
# including every fault mode of the emulator's faulty CDN. Uses curl only
# (plus node for JSON parsing, which hub.mjs needs anyway).
#
#   tests/hub/selftest.sh        prints "ok N - ..." / "not ok N - ..." lines,
#                                exits 0 only if every check passed.
#
# Everything lives in a mktemp directory that is removed on exit; the hub and
# nginx instances are stopped on exit (trap), whatever happens.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hub-selftest.XXXXXX")
HUB_PID=""
NOBODY_DIR=""

cleanup() {
    if [ -n "$HUB_PID" ]; then kill "$HUB_PID" 2>/dev/null; wait "$HUB_PID" 2>/dev/null; fi
    "$HERE/cdn.sh" stop "$WORK/cdn" 2>/dev/null
    "$HERE/cdn.sh" stop "$WORK/cdn-rate" 2>/dev/null
    if [ -n "$NOBODY_DIR" ]; then
        "$HERE/cdn.sh" stop "$NOBODY_DIR/cdn" 2>/dev/null
        rm -rf "$NOBODY_DIR"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

N=0
FAILED=0
ok()    { N=$((N + 1)); echo "ok $N - $1"; }
notok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $1"; [ -n "${2:-}" ] && echo "#   $2"; }
# check DESCRIPTION COMMAND...: ok if the command succeeds.
check() { local d=$1; shift; if "$@"; then ok "$d"; else notok "$d"; fi; }
# eq DESCRIPTION GOT WANT
eq() { if [ "$2" == "$3" ]; then ok "$1"; else notok "$1" "got '$2', want '$3'"; fi; }

# hdr FILE NAME: value of header NAME in a curl -D dump (last one, CR stripped).
hdr() { grep -i "^$2:" "$1" | tail -n 1 | sed -e 's/^[^:]*: *//' -e 's/\r$//'; }
# status FILE: status code of the last response in a curl -D dump.
status() { grep -E '^HTTP/' "$1" | tail -n 1 | awk '{print $2}'; }
# js EXPR: evaluate EXPR with d = JSON from stdin, print the result.
js() { node -e 'const d=JSON.parse(require("fs").readFileSync(0,"utf8"));const v=new Function("d","return ("+process.argv[1]+")")(d);console.log(typeof v==="string"?v:JSON.stringify(v));' "$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
gitsha1() { { printf 'blob %d\0' "$(stat -c %s "$1")"; cat "$1"; } | sha1sum | cut -d' ' -f1; }
now() { date +%s.%N; }
# glob STRING PATTERN / re STRING REGEX: [[ ]] matching usable with check.
glob() { [[ $1 == $2 ]]; }
re() { [[ $1 =~ $2 ]]; }
elapsed_ge() { awk -v a="$1" -v b="$2" -v m="$3" 'BEGIN { exit !((b - a) >= m) }'; }

# ------------------------------------------------------------ fixtures

mkdir -p "$WORK/src" "$WORK/blobs"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$WORK/src/big.gguf"
head -c $((100 * 1024)) /dev/urandom >"$WORK/src/small.bin"
printf '{"architectures": ["LlamaForCausalLM"]}\n' >"$WORK/src/config.json"
printf 'hello nested\n' >"$WORK/src/b.txt"
BIG=$(stat -c %s "$WORK/src/big.gguf")
SMALL=$(stat -c %s "$WORK/src/small.bin")
BIG_SHA=$(sha "$WORK/src/big.gguf")
SMALL_SHA=$(sha "$WORK/src/small.bin")
COMMIT=0123456789abcdef0123456789abcdef01234567

CDN_PORT=$("$HERE/cdn.sh" start "$WORK/cdn" "$WORK/blobs") || { echo "Bail out! cdn.sh start failed"; exit 1; }
CDN="http://127.0.0.1:$CDN_PORT"

S="$WORK/src"
cat >"$WORK/config.json" <<EOF
{
  "cdn": "$CDN",
  "blobs_dir": "$WORK/blobs",
  "nginx_access_log": "$WORK/cdn/access.log",
  "repos": {
    "org/public": {"commit": "$COMMIT", "files": [
        {"path": "model-Q4_K_M.gguf", "source": "$S/big.gguf", "lfs": true},
        {"path": "small.bin", "source": "$S/small.bin", "lfs": true},
        {"path": "config.json", "source": "$S/config.json", "lfs": false},
        {"path": "nested/a/b.txt", "source": "$S/b.txt"},
        {"path": "nested/c.bin", "source": "$S/small.bin", "lfs": true},
        {"path": "README.md", "content": "# inline\n"}]},
    "org/private": {"private": true, "token": "hf_secret",
        "files": [{"path": "small.bin", "source": "$S/small.bin", "lfs": true}]},
    "org/gated": {"gated": true, "token": "hf_gated",
        "files": [{"path": "small.bin", "source": "$S/small.bin", "lfs": true}]},
    "org/ratelimited": {"rate_limit": {"times": 2, "retry_after": 1},
        "files": [{"path": "small.bin", "source": "$S/small.bin", "lfs": true}]},
    "org/drop":    {"cdn": "faulty:drop:1000",     "files": [{"path": "big.gguf", "source": "$S/big.gguf", "lfs": true}]},
    "org/stall":   {"cdn": "faulty:stall:5000",    "files": [{"path": "big.gguf", "source": "$S/big.gguf", "lfs": true}]},
    "org/droponce": {"cdn": "faulty:droponce:1000", "files": [{"path": "big.gguf", "source": "$S/big.gguf", "lfs": true}]},
    "org/stallonce": {"cdn": "faulty:stallonce:1000", "files": [{"path": "big.gguf", "source": "$S/big.gguf", "lfs": true}]},
    "org/corrupt": {"cdn": "faulty:corrupt:12345", "files": [{"path": "big.gguf", "source": "$S/big.gguf", "lfs": true}]},
    "org/norange": {"cdn": "faulty:norange",       "files": [{"path": "small.bin", "source": "$S/small.bin", "lfs": true}]},
    "org/slow":    {"cdn": "faulty:slow:200000",   "files": [{"path": "small.bin", "source": "$S/small.bin", "lfs": true}]}
  }
}
EOF

node "$HERE/hub.mjs" --config "$WORK/config.json" --port 0 --page-size 2 >"$WORK/hub.out" 2>"$WORK/hub.err" &
HUB_PID=$!
for _ in $(seq 1 200); do
    [ -s "$WORK/hub.out" ] && break
    kill -0 "$HUB_PID" 2>/dev/null || break
    sleep 0.05
done
LINE=$(head -n 1 "$WORK/hub.out")
if ! [[ "$LINE" =~ ^hub\ listening\ on\ http://127\.0\.0\.1:[0-9]+$ ]]; then
    echo "Bail out! hub did not start: '$LINE'"; cat "$WORK/hub.err"; exit 1
fi
HUB=${LINE#hub listening on }
ok "hub started: $LINE; cdn on port $CDN_PORT"
eq "hub printed exactly one stdout line" "$(wc -l <"$WORK/hub.out")" "1"
check "blobs_dir has blobs named by sha256" test -f "$WORK/blobs/$BIG_SHA" -a -f "$WORK/blobs/$SMALL_SHA"

D="$WORK/d"; mkdir -p "$D"
# fetch NAME URL [curl args...]: body -> $D/NAME.body, headers -> $D/NAME.h, curl rc -> $D/NAME.rc
fetch() {
    local name=$1 url=$2; shift 2
    curl -sS -D "$D/$name.h" -o "$D/$name.body" "$@" "$url" 2>"$D/$name.err"
    echo $? >"$D/$name.rc"
}

# ------------------------------------------------------------ tree listing

# tree_all URL NAME: follow Link headers from URL; merge all pages into
# $D/NAME.json; page count -> $D/NAME.pages, page sizes -> $D/NAME.sizes.
tree_all() {
    local url=$1 name=$2 pages=0 files=()
    : >"$D/$name.sizes"
    while [ -n "$url" ] && [ $pages -lt 20 ]; do
        pages=$((pages + 1))
        fetch "$name.p$pages" "$url"
        [ "$(status "$D/$name.p$pages.h")" = 200 ] || break
        files+=("$D/$name.p$pages.body")
        js 'd.length' <"$D/$name.p$pages.body" >>"$D/$name.sizes"
        url=$(hdr "$D/$name.p$pages.h" Link | sed -n 's/^<\(.*\)>; rel="next"$/\1/p')
    done
    echo "$pages" >"$D/$name.pages"
    node -e 'const fs=require("fs");console.log(JSON.stringify([].concat(...process.argv.slice(1).map(f=>JSON.parse(fs.readFileSync(f,"utf8"))))))' "${files[@]}" >"$D/$name.json"
}

tree_all "$HUB/api/models/org/public/tree/main?recursive=true" tree
EXPECTED="directory nested
directory nested/a
file README.md
file config.json
file model-Q4_K_M.gguf
file nested/a/b.txt
file nested/c.bin
file small.bin"
eq "tree: following Link over pages returns every file and directory" "$(js 'd.map(e => e.type + " " + e.path).join("\n")' <"$D/tree.json" | sort)" "$EXPECTED"
eq "tree: 8 entries in 4 pages of at most 2" "$(cat "$D/tree.pages") $(sort -u "$D/tree.sizes" | tr '\n' ' ')" "4 2 "

fetch tree1 "$HUB/api/models/org/public/tree/main?recursive=1"
eq "tree: Link is an absolute URL keeping recursive=1 with a cursor" \
   "$(hdr "$D/tree1.h" Link | sed -n "s#^<$HUB/api/models/org/public/tree/main?recursive=1&cursor=[^>]*>; rel=\"next\"\$#yes#p")" "yes"

tree_all "$HUB/api/models/org/public/tree/$COMMIT?recursive=true" treebig
eq "tree: LFS entry has lfs.oid = sha256, size, pointerSize (rev = commit sha)" \
   "$(js 'JSON.stringify(d.find(e => e.path === "model-Q4_K_M.gguf"))' <"$D/treebig.json" | js '[d.type, d.size, d.lfs.oid, d.lfs.size, d.lfs.pointerSize > 100, /^[0-9a-f]{40}$/.test(d.oid)].join(" ")')" \
   "file $BIG $BIG_SHA $BIG true true"
eq "tree: non-LFS entry oid is the git blob sha1 and has no lfs" \
   "$(js 'JSON.stringify(d.find(e => e.path === "config.json"))' <"$D/treebig.json" | js '[d.oid, d.lfs === undefined].join(" ")')" \
   "$(gitsha1 "$S/config.json") true"

tree_all "$HUB/api/models/org/public/tree/main" treetop
eq "tree: non-recursive lists only the top level" "$(js 'd.map(e => e.path).sort().join(" ")' <"$D/treetop.json") " "README.md config.json model-Q4_K_M.gguf nested small.bin "

fetch treesub "$HUB/api/models/org/public/tree/main/nested?recursive=true"
eq "tree: sub-directory listing" "$(js 'd.map(e => e.path).join(" ")' <"$D/treesub.body")" "nested/a nested/a/b.txt"

fetch treerev "$HUB/api/models/org/public/tree/nosuchrev?recursive=true"
eq "tree: unknown revision -> 404 RevisionNotFound" "$(status "$D/treerev.h") $(hdr "$D/treerev.h" X-Error-Code)" "404 RevisionNotFound"

fetch info "$HUB/api/models/org/public/revision/main?blobs=true"
eq "model info: sha and siblings" "$(js '[d.sha, d.siblings.length, d.siblings.find(s => s.rfilename === "small.bin").lfs.sha256].join(" ")' <"$D/info.body")" "$COMMIT 6 $SMALL_SHA"

# ------------------------------------------------------------ resolve

fetch rhead "$HUB/org/public/resolve/main/model-Q4_K_M.gguf" -I
LOC=$(hdr "$D/rhead.h" Location)
eq "resolve HEAD (LFS): 302" "$(status "$D/rhead.h")" "302"
check "resolve HEAD (LFS): Location = CDN/<sha256>?signature" glob "$LOC" "$CDN/$BIG_SHA?*"
eq "resolve HEAD (LFS): X-Linked-Etag is the quoted sha256" "$(hdr "$D/rhead.h" X-Linked-Etag)" "\"$BIG_SHA\""
eq "resolve HEAD (LFS): X-Linked-Size" "$(hdr "$D/rhead.h" X-Linked-Size)" "$BIG"
eq "resolve HEAD (LFS): X-Repo-Commit" "$(hdr "$D/rhead.h" X-Repo-Commit)" "$COMMIT"
check "resolve HEAD (LFS): ETag is a quoted git sha1" re "$(hdr "$D/rhead.h" ETag)" '^"[0-9a-f]{40}"$'
eq "resolve HEAD (LFS): Content-Length 0" "$(hdr "$D/rhead.h" Content-Length)" "0"

fetch rget "$HUB/org/public/resolve/$COMMIT/model-Q4_K_M.gguf"
eq "resolve GET (LFS, rev = commit): 302 with the same linked headers" \
   "$(status "$D/rget.h") $(hdr "$D/rget.h" X-Linked-Etag) $(hdr "$D/rget.h" X-Linked-Size)" "302 \"$BIG_SHA\" $BIG"

fetch full "$HUB/org/public/resolve/main/model-Q4_K_M.gguf" -L
eq "resolve GET -L via nginx: full file, sha256 matches" "$(sha "$D/full.body")" "$BIG_SHA"

fetch rng "$LOC" -r 1000-1999
dd if="$S/big.gguf" of="$D/rng.want" bs=1000 skip=1 count=1 status=none
eq "nginx Range bytes=1000-1999: 206 + Content-Range" "$(status "$D/rng.h") $(hdr "$D/rng.h" Content-Range)" "206 bytes 1000-1999/$BIG"
check "nginx Range bytes=1000-1999: the right bytes" cmp -s "$D/rng.body" "$D/rng.want"
fetch rng2 "$LOC" -H "Range: bytes=$((BIG - 100))-"
eq "nginx Range bytes=N- : 206, 100 bytes" "$(status "$D/rng2.h") $(stat -c %s "$D/rng2.body")" "206 100"

fetch small "$HUB/org/public/resolve/main/nested/c.bin" -L
eq "resolve nested LFS path via nginx: sha256 matches" "$(sha "$D/small.body")" "$SMALL_SHA"

fetch cfgh "$HUB/org/public/resolve/main/config.json" -I
eq "resolve HEAD (non-LFS): 200, ETag = git sha1, Content-Length, X-Repo-Commit" \
   "$(status "$D/cfgh.h") $(hdr "$D/cfgh.h" ETag) $(hdr "$D/cfgh.h" Content-Length) $(hdr "$D/cfgh.h" X-Repo-Commit)" \
   "200 \"$(gitsha1 "$S/config.json")\" $(stat -c %s "$S/config.json") $COMMIT"
fetch cfg "$HUB/org/public/resolve/main/config.json"
check "resolve GET (non-LFS): content" cmp -s "$D/cfg.body" "$S/config.json"
fetch cfgr "$HUB/org/public/resolve/main/config.json" -r 2-5
eq "resolve GET (non-LFS) Range: 206 + bytes" "$(status "$D/cfgr.h") $(cat "$D/cfgr.body")" "206 arch"
fetch readme "$HUB/org/public/resolve/main/README.md"
eq "resolve GET (inline content file)" "$(cat "$D/readme.body")" "# inline"

# ------------------------------------------------------------ errors

fetch e1 "$HUB/nobody/nothing/resolve/main/x.bin" -I
eq "unknown repo -> 401 RepoNotFound" "$(status "$D/e1.h") $(hdr "$D/e1.h" X-Error-Code)" "401 RepoNotFound"
fetch e1b "$HUB/api/models/nobody/nothing/tree/main"
eq "unknown repo (tree) -> 401 RepoNotFound + JSON body" "$(status "$D/e1b.h") $(js d.error <"$D/e1b.body")" "401 Repository not found"
fetch e2 "$HUB/org/public/resolve/main/missing.bin" -I
eq "unknown file -> 404 EntryNotFound (+X-Repo-Commit)" "$(status "$D/e2.h") $(hdr "$D/e2.h" X-Error-Code) $(hdr "$D/e2.h" X-Repo-Commit)" "404 EntryNotFound $COMMIT"
fetch e3 "$HUB/org/public/resolve/nosuchrev/small.bin" -I
eq "unknown revision (resolve) -> 404 RevisionNotFound" "$(status "$D/e3.h") $(hdr "$D/e3.h" X-Error-Code)" "404 RevisionNotFound"
fetch p1 "$HUB/org/private/resolve/main/small.bin" -I
eq "private, no token -> 401 RepoNotFound" "$(status "$D/p1.h") $(hdr "$D/p1.h" X-Error-Code)" "401 RepoNotFound"
fetch p2 "$HUB/org/private/resolve/main/small.bin" -I -H "Authorization: Bearer hf_wrong"
eq "private, wrong token -> 401 RepoNotFound" "$(status "$D/p2.h") $(hdr "$D/p2.h" X-Error-Code)" "401 RepoNotFound"
fetch p3 "$HUB/org/private/resolve/main/small.bin" -L -H "Authorization: Bearer hf_secret"
eq "private, right token -> 302, download ok" "$(grep -c '^HTTP/1.1 302' "$D/p3.h") $(sha "$D/p3.body")" "1 $SMALL_SHA"
fetch g1 "$HUB/org/gated/resolve/main/small.bin" -I
eq "gated, no token -> 401 GatedRepo" "$(status "$D/g1.h") $(hdr "$D/g1.h" X-Error-Code)" "401 GatedRepo"
fetch g2 "$HUB/org/gated/resolve/main/small.bin" -I -H "Authorization: Bearer hf_wrong"
eq "gated, wrong token -> 403 GatedRepo" "$(status "$D/g2.h") $(hdr "$D/g2.h" X-Error-Code)" "403 GatedRepo"
check "gated, wrong token: X-Error-Message 'Access to model org/gated is restricted...'" \
    grep -qi '^X-Error-Message: Access to model org/gated is restricted' "$D/g2.h"
fetch g3 "$HUB/org/gated/resolve/main/small.bin" -I -H "Authorization: Bearer hf_gated"
eq "gated, right token -> 302" "$(status "$D/g3.h")" "302"
fetch g4 "$HUB/api/models/org/gated/tree/main" -H "Authorization: Bearer hf_gated"
eq "gated, right token (tree) -> 200" "$(status "$D/g4.h")" "200"
fetch rl1 "$HUB/org/ratelimited/resolve/main/small.bin" -I
fetch rl2 "$HUB/api/models/org/ratelimited/tree/main"
fetch rl3 "$HUB/org/ratelimited/resolve/main/small.bin" -I
eq "rate limit: first 2 requests (any kind) -> 429 Retry-After: 1, then 302" \
   "$(status "$D/rl1.h") $(hdr "$D/rl1.h" Retry-After) $(status "$D/rl2.h") $(hdr "$D/rl2.h" Retry-After) $(status "$D/rl3.h")" "429 1 429 1 302"

# ------------------------------------------------------------ faulty CDN

curl -s -X POST "$HUB/_reset" >/dev/null

fetch fh "$HUB/org/drop/resolve/main/big.gguf" -I
FLOC=$(hdr "$D/fh.h" Location)
check "faulty: resolve points at $HUB/faulty/drop/1000/<sha256>" glob "$FLOC" "$HUB/faulty/drop/1000/$BIG_SHA?*"
fetch fhh "$FLOC" -I
eq "faulty: HEAD -> 200, Content-Length, Accept-Ranges (no fault used up)" \
   "$(status "$D/fhh.h") $(hdr "$D/fhh.h" Content-Length) $(hdr "$D/fhh.h" Accept-Ranges)" "200 $BIG bytes"

fetch drop1 "$HUB/org/drop/resolve/main/big.gguf" -L
eq "drop: first GET -> curl error 18 after 1000 bytes" "$(cat "$D/drop1.rc") $(stat -c %s "$D/drop1.body")" "18 1000"
fetch drop2 "$HUB/org/drop/resolve/main/big.gguf" -L
eq "drop: second GET (same range start) -> full file" "$(cat "$D/drop2.rc") $(sha "$D/drop2.body")" "0 $BIG_SHA"
fetch drop3 "$FLOC" -r 500000-999999
eq "drop: first request for a new range start -> error after 1000 bytes" "$(cat "$D/drop3.rc") $(stat -c %s "$D/drop3.body")" "18 1000"
fetch drop4 "$FLOC" -r 500000-999999
dd if="$S/big.gguf" of="$D/drop4.want" bs=500000 skip=1 count=1 status=none
eq "drop: retry of that range -> 206 with the right 500000 bytes" \
   "$(status "$D/drop4.h") $(cmp -s "$D/drop4.body" "$D/drop4.want" && echo same)" "206 same"

T0=$(now)
fetch stall1 "$HUB/org/stall/resolve/main/big.gguf" -L --max-time 2
T1=$(now)
eq "stall: first GET -> curl --max-time 2 times out (28) after 5000 bytes" "$(cat "$D/stall1.rc") $(stat -c %s "$D/stall1.body")" "28 5000"
check "stall: it took about 2 s" elapsed_ge "$T0" "$T1" 1.8
fetch stall2 "$HUB/org/stall/resolve/main/big.gguf" -L --max-time 20
eq "stall: second GET -> full file" "$(cat "$D/stall2.rc") $(sha "$D/stall2.body")" "0 $BIG_SHA"

fetch do1 "$HUB/org/droponce/resolve/main/big.gguf" -L
fetch do2 "$HUB/org/droponce/resolve/main/big.gguf" -L -r 1000-
dd if="$S/big.gguf" of="$D/do2.want" bs=1000 skip=1 status=none
eq "droponce: first GET dropped after 1000 bytes; resume at 1000 succeeds" \
   "$(cat "$D/do1.rc") $(stat -c %s "$D/do1.body") $(cat "$D/do2.rc") $(status "$D/do2.h") $(cmp -s "$D/do2.body" "$D/do2.want" && echo same)" "18 1000 0 206 same"
fetch so1 "$HUB/org/stallonce/resolve/main/big.gguf" -L -r 5000- --max-time 1
fetch so2 "$HUB/org/stallonce/resolve/main/big.gguf" -L -r 6000- --max-time 20
eq "stallonce: first GET stalls after 1000 bytes; the next one (any range) is served" \
   "$(cat "$D/so1.rc") $(stat -c %s "$D/so1.body") $(cat "$D/so2.rc") $(stat -c %s "$D/so2.body")" "28 1000 0 $((BIG - 6000))"

fetch cor1 "$HUB/org/corrupt/resolve/main/big.gguf" -L
check "corrupt: full download completes but sha256 differs" [ "$(cat "$D/cor1.rc")" = 0 ] && [ "$(sha "$D/cor1.body")" != "$BIG_SHA" ]
eq "corrupt: exactly byte 12345 (1-based 12346 in cmp) differs" "$(cmp -l "$D/cor1.body" "$S/big.gguf" | awk '{print $1}' | tr '\n' ' ')" "12346 "
CLOC=$(hdr "$D/cor1.h" Location)
fetch cor2 "$CLOC" -r 0-9999
dd if="$S/big.gguf" of="$D/cor2.want" bs=10000 count=1 status=none
check "corrupt: a range not covering the offset is intact" cmp -s "$D/cor2.body" "$D/cor2.want"
fetch cor3 "$CLOC" -r 12345-12345
eq "corrupt: range of just that byte is flipped" \
   "$(od -An -tx1 "$D/cor3.body" | tr -d ' \n')" "$(printf '%02x' $((0x$(dd if="$S/big.gguf" bs=1 skip=12345 count=1 status=none | od -An -tx1 | tr -d ' \n') ^ 0xff)))"

fetch nr "$HUB/org/norange/resolve/main/small.bin" -L -r 0-99
eq "norange: Range request -> 200 with the whole file" "$(status "$D/nr.h") $(sha "$D/nr.body")" "200 $SMALL_SHA"
eq "norange: no Accept-Ranges header" "$(hdr "$D/nr.h" Accept-Ranges)" ""

T0=$(now)
fetch slow "$HUB/org/slow/resolve/main/small.bin" -L
T1=$(now)
eq "slow: download completes, sha256 matches" "$(cat "$D/slow.rc") $(sha "$D/slow.body")" "0 $SMALL_SHA"
check "slow: 100 KiB at 200000 B/s took >= 0.45 s ($(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.2f", b-a}') s)" elapsed_ge "$T0" "$T1" 0.45

fetch r416 "$FLOC" -r "$((BIG + 10))-"
eq "faulty: unsatisfiable range -> 416 Content-Range: bytes */size" "$(status "$D/r416.h") $(hdr "$D/r416.h" Content-Range)" "416 bytes */$BIG"

# ------------------------------------------------------------ /_stats

curl -s "$HUB/_stats" >"$D/stats1.json"
# drop: 1000 + BIG + 1000 + 500000 ; stall: 5000 + BIG ; droponce: 1000 + BIG-1000 ;
# stallonce: 1000 + BIG-6000 ; corrupt: BIG + 10000 + 1
eq "_stats: faulty CDN bytes for big file = what was actually sent" \
   "$(js "d.hub_bytes_served['$BIG_SHA']" <"$D/stats1.json")" \
   "$((1000 + BIG + 1000 + 500000 + 5000 + BIG + 1000 + BIG - 1000 + 1000 + BIG - 6000 + BIG + 10000 + 1))"
eq "_stats: faulty CDN bytes for small file (norange + slow)" "$(js "d.hub_bytes_served['$SMALL_SHA']" <"$D/stats1.json")" "$((2 * SMALL))"
eq "_stats: requests recorded with method/path/range/status" \
   "$(js 'JSON.stringify(d.requests.filter(r => r.path.startsWith("/faulty/drop/") && r.range === "bytes=500000-999999").map(r => [r.method, r.status, r.bytes]))' <"$D/stats1.json")" \
   '[["GET",206,1000],["GET",206,500000]]'

curl -s -X POST "$HUB/_reset" >/dev/null
curl -s "$HUB/_stats" >"$D/stats2.json"
eq "_reset: counters and request log cleared" "$(js '[Object.keys(d.bytes_served).length, d.requests.length, d.nginx_requests.length].join(" ")' <"$D/stats2.json")" "0 0 0"

fetch ng1 "$HUB/org/public/resolve/main/model-Q4_K_M.gguf" -L -H "Authorization: Bearer hf_tok"
fetch ng2 "$LOC" -r 0-99
sleep 0.2   # nginx writes the access log line just after the response
curl -s "$HUB/_stats" >"$D/stats3.json"
eq "_stats: nginx bytes (from access log) for a full + a 100-byte range download" \
   "$(js "[d.nginx_bytes_served['$BIG_SHA'], d.bytes_served['$BIG_SHA']].join(' ')" <"$D/stats3.json")" "$((BIG + 100)) $((BIG + 100))"
eq "_stats: nginx_requests has the range and status" \
   "$(js 'JSON.stringify(d.nginx_requests.map(r => [r.status, r.range, r.bytes]))' <"$D/stats3.json")" "[[200,null,$BIG],[206,\"bytes=0-99\",100]]"
eq "_stats: hub request log records the Authorization header" \
   "$(js 'd.requests.map(r => r.auth + " " + r.status).join(",")' <"$D/stats3.json")" "Bearer hf_tok 302"
fetch rlr "$HUB/org/ratelimited/resolve/main/small.bin" -I
eq "_reset: rate limit counter restarted (429 again)" "$(status "$D/rlr.h")" "429"

# ------------------------------------------------------------ cdn.sh RATE

# nginx's limit_rate lets the first second's worth through at once and then
# throttles at 1 s granularity: 3 MiB at 2m takes a bit over 1 s.
RATE_PORT=$("$HERE/cdn.sh" start "$WORK/cdn-rate" "$WORK/blobs" 2m)
T0=$(now)
fetch rate "http://127.0.0.1:$RATE_PORT/$BIG_SHA?sig=x"
T1=$(now)
eq "cdn.sh RATE: full file" "$(status "$D/rate.h") $(sha "$D/rate.body")" "200 $BIG_SHA"
check "cdn.sh RATE 2m: 3 MiB took >= 0.8 s ($(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.2f", b-a}') s)" elapsed_ge "$T0" "$T1" 0.35
"$HERE/cdn.sh" stop "$WORK/cdn-rate"
check "cdn.sh stop: nginx gone" test ! -e "$WORK/cdn-rate/nginx.pid"

# ------------------------------------------------------------ cdn.sh as a normal user

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    NOBODY_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hub-selftest-nobody.XXXXXX")
    chmod 755 "$NOBODY_DIR"
    mkdir -p "$NOBODY_DIR/blobs" "$NOBODY_DIR/cdn"
    cp "$S/small.bin" "$NOBODY_DIR/blobs/$SMALL_SHA"
    chmod -R a+rX "$NOBODY_DIR/blobs"
    chown nobody "$NOBODY_DIR/cdn"
    NB_PORT=$(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
        env HOME=/tmp "$HERE/cdn.sh" start "$NOBODY_DIR/cdn" "$NOBODY_DIR/blobs" 2>"$D/nobody.err")
    fetch nb "http://127.0.0.1:${NB_PORT:-1}/$SMALL_SHA" -r 0-99
    eq "cdn.sh as user nobody: starts and serves a 206" "$(status "$D/nb.h") $(stat -c %s "$D/nb.body")" "206 100"
    setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$HERE/cdn.sh" stop "$NOBODY_DIR/cdn"
    check "cdn.sh as user nobody: stopped" test ! -e "$NOBODY_DIR/cdn/nginx.pid"
else
    ok "# SKIP cdn.sh as another user (not root or no setpriv)"
fi

check "hub still running" kill -0 "$HUB_PID"
if [ -s "$WORK/hub.err" ]; then echo "# hub stderr:"; sed 's/^/#   /' "$WORK/hub.err"; fi

echo "1..$N"
if [ "$FAILED" -ne 0 ]; then echo "# $FAILED of $N checks failed"; exit 1; fi
echo "# all $N checks passed"
exit 0
