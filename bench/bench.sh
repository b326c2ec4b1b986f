#!/usr/bin/env bash
# make bench / make bench-all: CoreDNS on the kernel path, CoreDNS + afxdp
# with and without hot answers (in the receive loop, and in the XDP program:
# `hot xdp`), Knot DNS in XDP mode, dnsmasq, dnsdist, the afxdp datapath alone and
# the floor (an XDP program that echoes each query back with XDP_TX,
# bench/floor), side by side in one run on one testbed:
#
#   client (CPU 0: xdpgen, dnsload) --veth-- server (CPU 1) --veth-- upstream (CPU 0)
#
# The load generator is bench/xdpgen (AF_XDP, queue 0 of veth-c, pinned to
# CPU 0 with GOMAXPROCS=1): Debian's kxdpgun, used before, cannot load its
# XDP program on kernels that refuse bpf_xdp_adjust_meta. Its queries carry
# no OPT record (-edns=false), as kxdpgun's did. knotd in XDP mode is
# probed once at the start: on a kernel that refuses bpf_xdp_adjust_meta it
# runs with a copy of libknot whose one call of it is removed
# (bench/knotpatch), and its rows say so; a peer that cannot run at all is
# reported as not run, with the reason. Before the systems, the generator's
# own capacity: as fast as it can into an XDP_DROP sink on the server's
# core (floor -sink, CAPSTEP seconds; capacity.tsv).
#
# For each system and workload: replies/s at saturation (an xdpgen ramp),
# then, at 50 % of the kernel path's saturation, CPU µs per answered query on
# the server core (process and NAPI thread: everything on CPU 1) and latency
# percentiles (dnsload). For the afxdp rows, the server's own counters
# (prometheus, scraped before and after) say what share of its answers were
# hot. Every load is bounded in time.
#
# CPU per answer at a fixed rate (knot, floor, afxdp-xdp, afxdp-hot): after
# the workloads, xdpgen offers CPURATE/s (400 k) of IPv4 cache hits for
# CPUSTEP seconds; the server's CPU time (schedstat: its process, the server
# interface's NAPI threads, ksoftirqd/1) over the answers xdpgen counted,
# with CPU 1's busy time from /proc/stat as a check (cpu.tsv).
#
# Overload (cache hits, OVERWL, for OVERSYS): after each ramp, xdpgen
# offers fixed rates past that system's own peak (1.5x, 2x, 4x; the afxdp
# rows with hot answers and Knot also the generator's maximum) for OVERSTEP
# seconds each; replies/s over the peak, and for the afxdp rows the server's
# handoff and drop counters around each step (overload.tsv).
# Miss storm (IPv4, one RX queue): the upstream goes silent (nftables drops
# UDP/53 in its namespace), dnsload sends unique misses at 3 k/s and cache
# hits at 10 k/s at the same time for STORM seconds; the hits' answered
# share and latency (storm.tsv), for stock and the afxdp rows.
# Many sources (IPv4 cache hits, for MANYSYS): after each system's hit4
# ramp (and its overload steps), xdpgen offers MANYRATE/s (100 k), or half
# that system's peak if that is lower, for MANY seconds from one source
# (veth-c's address), then from the 65,536 addresses of MANYSRC
# (198.19.0.0/16, walked: each repeats every 65,536 queries), which the
# server routes back via veth-c's address; what xdpgen sent, got back and
# lost, and what the server received over AF_XDP (its XDP program's
# redirected + answered counters) and through the kernel (UDP InDatagrams,
# /proc/net/snmp in its namespace), before and after each (many.tsv).
# Random-source flood (IPv4 cache hits, for FLOODSYS, make bench-all): after
# the many-sources runs, 1.5x the system's peak from random sources in
# MANYSRC beside FLOODREAL/s of real clients from veth-c's address, for
# FLOOD seconds, in two streams of one xdpgen: the real clients' answered
# share and latency (flood.tsv).
# Working set (IPv4 cache hits, for WSSYS, after every other row): for each
# N of WSNAMES, the system is started afresh with room for N names (the
# CoreDNS rows: `cache { success 2N+4096 }`; the afxdp rows also
# `hot_entries 2N`, or the most the option takes), every name of
# n0..n(N-1).ws.example.org (a wildcard in the run's copy of the zone;
# for Knot, a zone with the N names as records of their own) is
# asked once, the misses, at a rate the miss path sustains, and once more
# (each name's first cache hit fills its hot entry; a third time if the
# cache still holds fewer than N); then a ramp over the N names, asked in
# turn across xdpgen's runs (-first), and the server's CPU per answer at
# WSRATE/s (400 k, or the ramp's peak if lower) for WSCPU seconds; the
# server's cache and hot-table counters after the warm-up, and hot answers,
# cache misses and evictions around the ramp and the CPU step (names.tsv).
#
#   bench/bench.sh        the rows that matter most, cache hits: stock,
#                         afxdp hot off, afxdp hot on, afxdp hot xdp, Knot,
#                         the floor; overload steps on IPv4 for afxdp hot
#                         on, hot xdp and Knot; the working set of 100,000
#                         names for afxdp hot on, hot xdp and Knot (results/)
#   bench/bench.sh all    every row and workload, overload steps on both
#                         families for every row that has them, the flood,
#                         working sets of 1,000 to 1,000,000 names
#                         (results/all/)
#
# SYSTEMS, WORKLOADS, OUT, STEP, FIXED, OVERSTEP, OVERSYS, OVERWL, STORM,
# CPURATE, CPUSTEP, CPUSYS, MANY, MANYRATE, MANYSYS, FLOOD, FLOODSYS,
# FLOODREAL, CAPSTEP, WSNAMES, WSSYS, WSMISS, WSHIT, WSMISSK, WSHITK,
# WSRATE, WSCPU and BUDGET override the choice (OVERSTEP=0, STORM=0,
# CPUSTEP=0, MANY=0, FLOOD=0, CAPSTEP=0, WSNAMES=0: none of those).
# BUDGET (seconds, under make's timeout) sheds overload steps and storms
# that would not leave time for the rows still to come, and working-set
# rows that would not fit; the log and the report say which. Results:
# $OUT/ (results.tsv, hot.tsv, overload.tsv, storm.tsv, cpu.tsv, many.tsv,
# flood.tsv, capacity.tsv, names.tsv, notrun.tsv, binaries.tsv, xdpgen.jsonl, run.txt, summary.md,
# *.png), and BENCHMARKS.md made from results/ and results/all/.
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)

case ${1:-} in
"")
	CMD="make bench" DEF_OUT=results DEF_BUDGET=590
	DEF_SYSTEMS="stock afxdp-off afxdp-hot afxdp-xdp knot floor" DEF_WORKLOADS="hit4 hit6"
	DEF_OVERSYS="afxdp-hot afxdp-xdp knot" DEF_OVERWL="hit4"
	DEF_WSNAMES="100000" DEF_WSSYS="afxdp-hot afxdp-xdp knot" DEF_FLOOD=0
	;;
all)
	CMD="make bench-all" DEF_OUT=results/all DEF_BUDGET=1780
	DEF_SYSTEMS="stock dnsmasq dnsdist afxdp-off afxdp-hot afxdp-xdp knot reflector floor" DEF_WORKLOADS="hit4 hit6 miss4 miss6"
	DEF_OVERSYS="stock afxdp-off afxdp-hot afxdp-xdp knot" DEF_OVERWL="hit4 hit6"
	DEF_WSNAMES="1000 10000 100000 1000000" DEF_WSSYS="stock afxdp-hot afxdp-xdp knot" DEF_FLOOD=3
	;;
*) echo "usage: $0 [all]" >&2; exit 2 ;;
esac
OUT=${OUT:-$DEF_OUT}
SYSTEMS=${SYSTEMS:-$DEF_SYSTEMS}
WORKLOADS=${WORKLOADS:-$DEF_WORKLOADS}
# Durations, shortened from 2, 5, 3 and 10 s when the floor and hot xdp rows
# joined make bench (kxdpgun, the generator then, took ~2.2 s of its own per
# run; xdpgen takes ~0.2 s, and up to GENWAIT more when queries were lost).
STEP=${STEP:-1.5}      # seconds per ramp step (fractions allowed)
FIXED=${FIXED:-3}      # seconds of the fixed-rate run
OVERSTEP=${OVERSTEP:-2} # seconds per overload step; 0: none
OVERSYS=${OVERSYS:-$DEF_OVERSYS} # the systems with overload steps
OVERWL=${OVERWL:-$DEF_OVERWL}    # and their workloads (cache hits only)
STORM=${STORM:-6}      # seconds of the miss storm; 0: none
CPURATE=${CPURATE:-400000} # q/s offered for CPU per answer at a fixed rate
CPUSTEP=${CPUSTEP:-3}  # its seconds; 0: none
CPUSYS=${CPUSYS:-"knot floor afxdp-xdp afxdp-hot"}
MANY=${MANY:-3}        # seconds of each many-sources run (and its one-source twin); 0: none
MANYRATE=${MANYRATE:-100000} # q/s offered from many sources (at most half the system's peak)
MANYSYS=${MANYSYS:-"stock afxdp-hot afxdp-xdp"}
MANYSRC=198.19.0.0/16  # the sources: 65,536 addresses, routed back via veth-c
FLOOD=${FLOOD:-$DEF_FLOOD} # seconds of each flood run; 0: none
FLOODSYS=${FLOODSYS:-"stock dnsdist afxdp-hot afxdp-xdp knot"}
FLOODREAL=${FLOODREAL:-10000} # q/s of the real clients beside the flood
CAPSTEP=${CAPSTEP:-2}  # seconds of the generator's capacity run into the sink; 0: none
WSNAMES=${WSNAMES:-$DEF_WSNAMES} # working sets: numbers of distinct names; 0: none
WSSYS=${WSSYS:-$DEF_WSSYS}       # the systems with working-set rows (of SYSTEMS)
# The working set's warm-up, two passes over every name with xdpgen
# sleeping when idle (polling, it starves the upstream, which shares CPU 0:
# the kernel path then lost 7 % of 100,000 misses at 8 k/s, none without):
# the misses (each name's first query goes to the upstream) at WSMISS/s for
# the afxdp rows and WSMISSK/s for the kernel path, and at most 80 % of the
# system's own miss4 peak when this run measured it (a ramp's 1.5 s steps
# find more than a server keeps up for a minute); then every name again at
# WSHIT/s (WSHITK/s), mostly cache hits (each name's first, which fills its
# hot entry) and the names the first pass lost. With 1,000,000 names the
# heap grows with the cache, and the GC's stalls can overflow the RX ring
# or the socket's buffer: make bench-all of 2026-12-07 lost 0.1 % of the
# misses at these rates, and the second passes left every name cached; a
# trial that day lost 13 % of the kernel path's at 10 k/s. With 100,000
# names afxdp lost none at 12 k/s, up to 4 % while other work ran on the
# machine. A name the warm-up did not leave cached is a miss in the ramp:
# the report counts it.
WSMISS=${WSMISS:-12000}
WSHIT=${WSHIT:-30000}
WSMISSK=${WSMISSK:-10000}
WSHITK=${WSHITK:-20000}
WSRATE=${WSRATE:-$CPURATE} # q/s offered for CPU per answer (the ramp's peak if lower)
WSCPU=${WSCPU:-3}      # its seconds
GENWAIT=${GENWAIT:-500ms} # how long xdpgen waits for late replies after sending
BUDGET=${BUDGET:-$DEF_BUDGET} # seconds: optional steps are shed to stay within
P=afxdp-bench
CLI=$P-cli SRV=$P-srv UPS=$P-ups
WORK=$(mktemp -d /tmp/afxdp-bench.XXXXXX)
PIDS=()

[ "$(id -u)" = 0 ] || { echo "make bench needs root (namespaces, XDP)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "make bench needs 2 CPUs: server on CPU 1, load on CPU 0" >&2; exit 1; }

# dnsmasq-base is Debian's dnsmasq binary without the package that would
# start a dnsmasq service on the host.
need=""
for t in knotd:knot dnsmasq:dnsmasq-base gnuplot:gnuplot-nox nft:nftables \
	ethtool:ethtool dig:bind9-dnsutils curl:curl jq:jq dnsdist:dnsdist; do
	command -v "${t%%:*}" >/dev/null || need="$need ${t##*:}"
done
if [ -n "$need" ]; then
	echo "== installing:$need"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
	# The dnsdist package enables a service on the host; the bench runs
	# its own in the server's namespace only.
	case $need in *dnsdist*) systemctl disable --now dnsdist >/dev/null 2>&1 || true ;; esac
fi

stop_all() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	PIDS=()
}
cleanup() {
	set +e
	stop_all
	[ -n "${PIDS_KEEP:-}" ] && kill "$PIDS_KEEP" 2>/dev/null
	[ -n "${UPSTREAM:-}" ] && kill "$UPSTREAM" 2>/dev/null
	testnet_down
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
nsx() { ip netns exec "$@"; }
. run/testnet.sh

echo "== building"
go build -o coredns ./build
go build -o "$WORK/dnsload" ./bench/dnsload
go build -o "$WORK/reflector" ./bench/reflector
go build -o "$WORK/floor" ./bench/floor
go build -o "$WORK/report" ./bench/report
go build -o "$WORK/xdpgen" ./bench/xdpgen
go build -o "$WORK/knotpatch" ./bench/knotpatch
mkdir -p "$OUT"
rm -f "$OUT"/*.dat "$OUT"/*.json "$OUT"/*.png "$OUT"/plots.gp "$OUT"/summary.md "$OUT"/run.txt "$OUT"/knot-probe.log
: >"$OUT/results.tsv"
: >"$OUT/hot.tsv"
: >"$OUT/overload.tsv"
: >"$OUT/storm.tsv"
: >"$OUT/cpu.tsv"
: >"$OUT/many.tsv"
: >"$OUT/flood.tsv"
: >"$OUT/capacity.tsv"
: >"$OUT/names.tsv"
: >"$OUT/notrun.tsv"
: >"$OUT/binaries.tsv"
: >"$OUT/xdpgen.jsonl"
: >"$WORK/skipped"

echo "== testbed"
# One queue: the server is one core.
testnet_up 1
# veth does a frame's receive work in the sender's context unless NAPI is
# threaded: then the server's receive work runs on the server's core, as a
# NIC interrupt would.
nsx $CLI sh -c 'echo 1 > /sys/class/net/veth-c/threaded'
nsx $SRV sh -c 'echo 1 > /sys/class/net/veth-s/threaded'
# xdpgen takes the server's MAC from the neighbour table.
mac=$(nsx $SRV cat /sys/class/net/veth-s/address)
nsx $CLI ip neigh replace 198.18.0.1 lladdr "$mac" dev veth-c nud permanent
nsx $CLI ip neigh replace fd00::1 lladdr "$mac" dev veth-c nud permanent
# The many-sources runs' clients (xdpgen -sources): the server sends their
# replies via veth-c's address. xdpgen's XDP program on veth-c takes every
# UDP frame from the server's port, whatever its destination.
nsx $SRV ip route add "$MANYSRC" via 198.18.0.2 dev veth-s

# knotd pins its XDP threads itself (to the CPU of the queue's number):
# move every thread of the server back to CPU 1.
# The client's NAPI thread runs at SCHED_FIFO 10, above the generator, as a
# NIC's interrupt would preempt it: at the same priority the generator,
# which polls its rings without sleeping, left it too little of CPU 0, and
# veth-c's ring (256 frames) overflowed (veth-s counted the answers as
# xdp_tx_errors): 5-15 % of the floor's answers were lost from 250 k/s on,
# at 400 k/s 0.3 % with it. The generator measures the server only if the
# client's receive work keeps up. The server's side is left as it was.
pin_napi() {
	for t in $(pgrep '^napi/veth-s' || true); do taskset -pc 1 "$t" >/dev/null; done
	for t in $(pgrep '^napi/veth-c' || true); do taskset -pc 0 "$t" >/dev/null; chrt -f -p 10 "$t" 2>/dev/null || true; done
	for p in $(pgrep -x knotd || true); do taskset -apc 1 "$p" >/dev/null 2>&1 || true; done
}

# xdpgen and the XDP programs of the systems may bring new NAPI threads:
# keep pinning them while the bench runs.
(while :; do pin_napi; sleep 0.5; done) &
PIDS_KEEP=$!

# The zone of the upstream (and of Knot): run/example.org.zone and, for the
# working-set row, a wildcard that answers any number of distinct names
# (xdpgen -names: n0.ws.example.org, n1.ws.example.org, ...) with one A
# record, as the h names are answered.
ZONE=$WORK/example.org.zone
cp run/example.org.zone "$ZONE"
cat >>"$ZONE" <<'EOZ'
; Added by bench/bench.sh: the working-set row's names.
*.ws    IN A    198.18.10.5
EOZ
cat >"$WORK/upstream.Corefile" <<EOC
example.org:53 {
    bind 198.18.1.2
    file $ZONE
}
EOC
ip netns exec $UPS taskset -c 0 ./coredns -conf "$WORK/upstream.Corefile" >"$WORK/upstream.log" 2>&1 &
UPSTREAM=$!

for i in $(seq 0 999); do echo "h$i.example.org A"; done >"$WORK/hits.q"
# Unique names the upstream answers (a wildcard); a new set for every run.
misses() { awk -v p="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s%d.miss.example.org A\n", p, i }' >"$WORK/miss.q"; }

# corefile AFXDP [CACHE]: the Corefile of a caching resolver, the same for
# every CoreDNS row; the afxdp rows add the afxdp block AFXDP (hot answers
# are on by default). CACHE: the cache plugin's block, for the working-set
# row only (its capacity).
corefile() {
	cat <<EOC
.:53 {
$1
    errors
    cache${2:-}
    forward . 198.18.1.2
    prometheus 127.0.0.1:9153
}
EOC
}
# afxdp_block OPTION...: the afxdp directive with these options, one a
# line; none: the bare directive.
afxdp_block() {
	if [ $# = 0 ]; then echo "    afxdp veth-s"; return; fi
	echo "    afxdp veth-s {"
	printf '        %s\n' "$@"
	echo "    }"
}
# WSN: the working set the next start is for (0: none, the other rows).
# The cache's shards (256, each holding at most its share of the capacity)
# fill unevenly, and the hot table keeps its buckets at most half full (8
# ways each): twice N, and for the cache 4096 more (16 a shard, for the
# smallest sets), holds every name without an eviction. hot_entries has a
# maximum (1,048,576 when this was written): WS_HOT_MAX, once a start
# refused more (working_set reads it from the error and starts again).
WSN=0
WS_HOT_MAX=0
ws_cache() { echo $((2 * $1 + 4096)); }
ws_hot() {
	local h=$((2 * $1))
	if [ "$WS_HOT_MAX" -gt 0 ] && [ "$h" -gt "$WS_HOT_MAX" ]; then h=$WS_HOT_MAX; fi
	echo "$h"
}

# knot_zone: the zone file Knot serves: the run's, and for a working-set
# start (WSN > 0) the N names as records of their own instead of the
# wildcard, so that Knot looks up N distinct nodes as a cache holds N
# entries (with the wildcard, every name would end at one node).
knot_zone() {
	if [ "$WSN" -gt 0 ]; then
		{
			grep -v '^\*\.ws' "$ZONE"
			awk -v n="$WSN" 'BEGIN { for (i = 0; i < n; i++) printf "n%d.ws IN A 198.18.10.5\n", i }'
		} >"$WORK/knot-ws.zone"
		echo "$WORK/knot-ws.zone"
	else
		echo "$ZONE"
	fi
}

# knot_conf: knotd's configuration, its XDP listener on veth-s.
knot_conf() {
	local zone
	zone=$(knot_zone)
	mkdir -p "$WORK/knot"
	cat >"$WORK/knot.conf" <<EOC
server:
    rundir: "$WORK/knot"
    user: root:root
    listen: [ 198.18.0.1@53, fd00::1@53 ]
    background-workers: 1
xdp:
    listen: veth-s
    udp: on
database:
    storage: "$WORK/knot"
zone:
  - domain: example.org
    file: "$zone"
log:
  - target: stderr
    any: warning
EOC
}

# dnsdist_conf: dnsdist 1.7 (Debian's package) with a packet cache in front
# of the same upstream, on the kernel's UDP sockets: the user-space cache
# operators put in front of resolvers for fast hits. Its default ACL holds
# private ranges only: the testbed's are added. No security polling (it
# would ask a public name of the host's resolver), no console.
dnsdist_conf() {
	cat >"$WORK/dnsdist.conf" <<EOC
setLocal("198.18.0.1:53")
addLocal("[fd00::1]:53")
setACL({"198.18.0.0/15", "fd00::/8"})
setSecurityPollSuffix("")
newServer({address="198.18.1.2:53", checkName="www.example.org."})
getPool(""):setCache(newPacketCache(100000, {maxTTL=86400}))
EOC
}

# Systems that will not run, system -> reason (notrun.tsv); the report
# shows "not run: REASON" in their rows.
declare -A NOTRUN
not_run() {
	NOTRUN[$1]=$2
	printf '%s\t%s\n' "$1" "$2" >>"$OUT/notrun.tsv"
	echo "   $1: not run: $2"
}

# knot_up LOG: knotd in XDP mode for up to 3 s: running means knotd still
# alive and an XDP program on veth-s. Its output goes to LOG.
knot_up() {
	local pid up="" i
	knot_conf
	ip netns exec $SRV "${KNOTENV[@]}" timeout 10 knotd -c "$WORK/knot.conf" >"$1" 2>&1 &
	pid=$!
	for i in $(seq 30); do
		kill -0 "$pid" 2>/dev/null || break
		if nsx $SRV ip -d link show dev veth-s | grep -q 'prog/xdp'; then up=1; break; fi
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	nsx $SRV ip link set veth-s xdp off 2>/dev/null || true
	[ -n "$up" ]
}

# probe_knot: knotd in XDP mode, once. Knot 3.2's XDP program calls
# bpf_xdp_adjust_meta, which some kernels refuse for every XDP program;
# knotd then exits ("failed to configure server"). There knotd runs with a
# copy of its library in which that one call is replaced by `r0 = 0`
# (bench/knotpatch: the program copes with a missing metadata area), loaded
# through LD_LIBRARY_PATH; binaries.tsv records the copy as the knot row's
# library, "patched: ...", and the report says so on Knot's rows.
KNOTENV=(env)
probe_knot() {
	local reason lib
	knot_up "$WORK/knot-probe.log" && return 0
	# (kernel addresses in the verifier's log masked)
	sed -E 's/0xffff[0-9a-f]{12}/0xffff…/g' "$WORK/knot-probe.log" >"$OUT/knot-probe.log"
	reason=$(grep -m1 -o 'cannot use helper [a-z_0-9#]*' "$WORK/knot-probe.log" || true)
	lib=$(ldd "$(command -v knotd)" | awk '$1 ~ /^libknot\.so/ {print $3}')
	if [ "${reason#*bpf_xdp_adjust_meta}" != "$reason" ] && [ -n "$lib" ]; then
		mkdir -p "$WORK/knotlib"
		if "$WORK/knotpatch" -in "$lib" -out "$WORK/knotlib/$(basename "$lib")" >"$WORK/knotpatch.log" 2>&1; then
			KNOTENV=(env LD_LIBRARY_PATH="$WORK/knotlib")
			if knot_up "$WORK/knot-probe2.log"; then
				echo "   knotd runs with its library patched: $(cat "$WORK/knotpatch.log")"
				binary knot "$WORK/knotlib/$(basename "$lib")" "patched: adjust_meta call removed (bench/knotpatch from $(deb_file "$lib") $lib, sha256 $(sha256sum "$lib" | cut -d' ' -f1)), loaded by knotd through LD_LIBRARY_PATH"
				return 0
			fi
			KNOTENV=(env)
			reason="$reason; with the call removed (bench/knotpatch) it still did not start: $(grep -m1 -E 'error|critical' "$WORK/knot-probe2.log" | sed 's/^[^ ]* //' || echo 'no XDP program on veth-s within 3 s')"
			not_run knot "$reason"
			return 0
		fi
		reason="$reason; bench/knotpatch could not patch $lib: $(cat "$WORK/knotpatch.log")"
	fi
	if [ -n "$reason" ]; then
		reason="knotd's XDP program does not load on this kernel (verifier: program of this type $reason)"
	else
		reason="knotd in XDP mode did not start: $(grep -m1 -E 'error|warning|critical' "$WORK/knot-probe.log" | sed 's/^[^ ]* //' || echo 'no XDP program on veth-s within 3 s')"
	fi
	not_run knot "$reason"
}

start_system() {
	local sys=$1 cache="" ws=()
	if [ "$WSN" -gt 0 ]; then
		cache=" {
        success $(ws_cache "$WSN")
    }" ws=("hot_entries $(ws_hot "$WSN")")
	fi
	case $sys in
	stock) corefile "" "$cache" >"$WORK/$sys.Corefile" ;;
	afxdp-hot) corefile "$(afxdp_block "${ws[@]}")" "$cache" >"$WORK/$sys.Corefile" ;;
	afxdp-off) corefile "$(afxdp_block "hot off" "${ws[@]}")" "$cache" >"$WORK/$sys.Corefile" ;;
	afxdp-xdp) corefile "$(afxdp_block "hot xdp" "${ws[@]}")" "$cache" >"$WORK/$sys.Corefile" ;;
	esac
	case $sys in
	floor | afxdp-xdp)
		# Their answers leave veth-s by XDP_TX, into veth-c's ring. veth
		# takes them only when veth-c has NAPI (GRO on, as the testbed
		# sets it), and schedules that NAPI only when veth-c has an XDP
		# program: without one, an answer waits until other traffic
		# arrives. xdp_pass (through netlink: it stays) while dnsload
		# runs; each xdpgen run takes it off for its own (a bpf_link,
		# which cannot replace a program attached through netlink) and
		# puts it back after (gen4).
		nsx $CLI ethtool -K veth-c gro on >/dev/null
		nsx $CLI "$WORK/floor" -pass -i veth-c
		CLIPASS=1
		;;
	esac
	case $sys in
	stock | afxdp-*)
		GOMAXPROCS=1 ip netns exec $SRV taskset -c 1 ./coredns -conf "$WORK/$sys.Corefile" >"$WORK/$sys.log" 2>&1 &
		PIDS+=($!)
		;;
	reflector)
		GOMAXPROCS=1 ip netns exec $SRV taskset -c 1 "$WORK/reflector" -i veth-s >"$WORK/reflector.log" 2>&1 &
		PIDS+=($!)
		;;
	floor)
		GOMAXPROCS=1 ip netns exec $SRV taskset -c 1 "$WORK/floor" -i veth-s >"$WORK/floor.log" 2>&1 &
		PIDS+=($!)
		;;
	dnsmasq)
		# A cache and a forwarder to the same upstream, on the kernel's UDP
		# socket; no DHCP (none configured), no config file, no hosts file.
		ip netns exec $SRV taskset -c 1 dnsmasq --keep-in-foreground --conf-file=/dev/null \
			--no-resolv --no-hosts --server=198.18.1.2 --cache-size=10000 \
			--listen-address=198.18.0.1 --listen-address=fd00::1 --bind-interfaces \
			--user=root --pid-file="$WORK/dnsmasq.pid" --log-facility=- >"$WORK/dnsmasq.log" 2>&1 &
		PIDS+=($!)
		;;
	dnsdist)
		dnsdist_conf
		ip netns exec $SRV taskset -c 1 dnsdist --supervised --disable-syslog -C "$WORK/dnsdist.conf" >"$WORK/dnsdist.log" 2>&1 &
		PIDS+=($!)
		;;
	knot)
		knot_conf
		ip netns exec $SRV "${KNOTENV[@]}" taskset -c 1 knotd -c "$WORK/knot.conf" >"$WORK/knot.log" 2>&1 &
		PIDS+=($!)
		;;
	*) echo "unknown system $sys" >&2; exit 1 ;;
	esac
	SERVER=${PIDS[-1]}
	local up="" tries=50
	# (Knot loads a working set's zone of up to a million records first)
	if [ "$sys" = knot ] && [ "$WSN" -gt 0 ]; then tries=300; fi
	for _ in $(seq $tries); do
		if nsx $CLI dig +time=1 +tries=1 +short @198.18.0.1 www.example.org A >/dev/null 2>&1; then up=1; break; fi
		kill -0 "$SERVER" 2>/dev/null || break
		sleep 0.2
	done
	if [ -z "$up" ]; then
		echo "   $sys did not answer; its log:" >&2
		tail -20 "$WORK/$sys.log" >&2 || true
		return 1
	fi
	pin_napi
}

# stop_system: the server stopped, and every XDP program the row left on
# the testbed's interfaces (the floor -pass's on veth-c, if any).
stop_system() {
	stop_all
	nsx $SRV ip link set veth-s xdp off 2>/dev/null || true
	nsx $CLI ip link set veth-c xdp off 2>/dev/null || true
	CLIPASS=0
}

# gen4 RATE DST FILE SECONDS: "sent/s replies/s sent replies lost" as xdpgen
# counted them, per second over the seconds it sent (replies that arrive
# in the GENWAIT after sending count too). RATE 0: as fast as it can.
# xdpgen binds queue 0 of veth-c (the testbed has one), pinned to CPU 0 with
# GOMAXPROCS=1, from veth-c's own address; its queries carry no OPT record,
# as kxdpgun's did (the hot entries made by them are not dnsload's). Each
# run's JSON goes to xdpgen.jsonl, labelled with GENLABEL. A run that fails
# three times stops the benchmark: a figure of 0 would read as a result.
# GENSRC, if set: xdpgen's -sources (walked) instead of veth-c's address.
# GENNAMES, if set: instead of FILE, that many names of the working set
# (xdpgen -names, n0.ws.example.org ...), asked in turn across runs: each
# run starts where the last one stopped (-first from $WORK/ws.next, which
# each run rewrites from its next_query; gen4 runs in a subshell).
# GENIDLE, if set: xdpgen sleeps up to that long when it has nothing to do
# (-idle) instead of polling CPU 0, which it shares with the upstream.
# GENSTREAMS, if set: xdpgen's stream arguments (-stream PREFIX:RATE ...,
# -random) instead of -rate RATE; RATE is then only the label's.
GENLABEL=""
GENSRC=""
GENSTREAMS=""
GENNAMES=""
GENIDLE=""
CLIPASS=0
gen4() {
	local out try err="" q=(-queries "$3")
	for try in 1 2 3; do
		if [ -n "$GENNAMES" ]; then q=(-names "$GENNAMES" -zone ws.example.org. -first "$(cat "$WORK/ws.next")"); fi
		[ "$CLIPASS" = 1 ] && nsx $CLI ip link set dev veth-c xdp off
		if out=$(nsx $CLI taskset -c 0 "$WORK/xdpgen" -iface veth-c -server "$2" "${q[@]}" -edns=false \
			${GENSTREAMS:--rate "$1"} -duration "${4}s" -timeout "$GENWAIT" -cpu 0 -gomaxprocs 1 ${GENSRC:+-sources "$GENSRC"} ${GENIDLE:+-idle "$GENIDLE"} -json 2>"$WORK/xdpgen.err") &&
			jq -e '.sent > 0' >/dev/null 2>&1 <<<"$out"; then
			[ "$CLIPASS" = 1 ] && nsx $CLI "$WORK/floor" -pass -i veth-c
			if [ -n "$GENNAMES" ]; then jq -r .next_query <<<"$out" >"$WORK/ws.next"; fi
			jq -c --arg l "$GENLABEL" --arg r "$1" '{run: $l, rate_asked: ($r | tonumber)} + .' <<<"$out" >>"$OUT/xdpgen.jsonl"
			jq -r '"\(.sent_per_s | floor) \(.answered_per_s | floor) \(.sent) \(.answered) \(.lost)"' <<<"$out"
			return 0
		fi
		[ "$CLIPASS" = 1 ] && nsx $CLI "$WORK/floor" -pass -i veth-c
		err="$(tail -3 "$WORK/xdpgen.err") $(head -c 300 <<<"$out")"
		sleep 0.5
	done
	echo "bench: xdpgen failed three times (rate $1 to $2 for $4 s; $GENLABEL): $err" >&2
	return 1
}
# gen2 RATE DST FILE SECONDS: "sent/s replies/s".
gen2() { local r; r=$(gen4 "$@") || return 1; set -- $r; echo "$1 $2"; }
# gen RATE DST FILE SECONDS: replies/s xdpgen got back.
gen() { local r; r=$(gen2 "$@") || return 1; echo "${r#* }"; }

dst_of() { case $1 in *4) echo 198.18.0.1 ;; *6) echo fd00::1 ;; esac; }
# mul A B: A*B rounded down (durations may be fractions).
mul() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", a * b }'; }

# The time budget: an optional step (an overload step, a storm) runs only if
# it leaves ROW_EST seconds for each row still to come (warm-up, ramp, the
# dnsload run and its share of the CPU step), WS_LEFT for the working-set
# rows still to come (ws_est each) and 15 s for the report. ROW_EST was 42
# while kxdpgun took ~2.2 s of its own per run; with xdpgen a row takes
# 10-30 s (make bench-all, 2026-12-07: 26 rows and their optional steps in
# 540 s), and 42 s a row shed optional steps that had time to run. At 30
# the first system's overload steps, many sources, flood and storm were
# shed in a make bench-all that then ended 254 s inside its budget (its 30
# rows took about 23 s each with their optional steps, its working set
# 808 s of the 937 budgeted).
ROW_EST=24
ROWS_LEFT=0
WS_LEFT=0
fits() {
	[ $(($(date +%s) - START + $1 + ROWS_LEFT * ROW_EST + WS_LEFT + 15)) -le "$BUDGET" ]
}
# skip WHAT: say that WHAT was shed for time.
skip() {
	echo "   skipped for the time budget ($BUDGET s): $1"
	echo "$1" >>"$WORK/skipped"
}

# ramp SYS WORKLOAD: raise the offered rate by half while at least 90 % is
# answered; after the first rate that falls short, bisect between it and
# the last good one (three more steps). The best replies/s seen is the
# saturation. A rate that xdpgen could not send (less than 90 % of it went
# out: its own ceiling, or veth pushing back) while the server answered at
# least 90 % of what went out ends the ramp: the generator is the limit,
# and asking for less would not find more.
ramp() {
	local sys=$1 wl=$2 dst best=0 rate=50000 got sent step=0 file good=0 bad=0 left=3
	[ "${wl#miss}" != "$wl" ] && rate=10000
	dst=$(dst_of "$wl")
	while [ $rate -le 1500000 ] && [ $left -gt 0 ]; do
		file=$WORK/hits.q
		if [ "${wl#miss}" != "$wl" ]; then misses "r$sys$wl$step." $(($(mul $rate "$STEP") + 1000)); file=$WORK/miss.q; fi
		GENLABEL="$sys $wl ramp $step"
		got=$(gen2 $rate "$dst" "$file" "$STEP") || return 1
		sent=${got% *} got=${got#* }
		echo "   $sys $wl offered $rate (sent $sent/s) -> $got replies/s" >&2
		[ "$got" -gt "$best" ] && best=$got
		step=$((step + 1))
		if [ "$sent" -gt 0 ] && [ $((sent * 10)) -lt $((rate * 9)) ] && [ $((got * 10)) -ge $((sent * 9)) ]; then
			echo "   $sys $wl: xdpgen sent $sent/s of $rate/s and got $got replies/s: the generator is the limit, ramp ends" >&2
			break
		fi
		if [ $((got * 10)) -ge $((rate * 9)) ]; then good=$rate; else bad=$rate; fi
		if [ $bad -eq 0 ]; then
			rate=$((rate * 3 / 2))
		else
			left=$((left - 1))
			rate=$(((good + bad) / 2))
		fi
	done
	echo "$best"
}

# The server core's work: run time (ns, from schedstat, exact where the
# tick-sampled /proc/stat is not) of every thread of the server process and
# of the server interface's NAPI thread, which does the receive work.
SERVER=""
# threads_ns PID...: the run time of every thread of these processes.
threads_ns() {
	local p f s=0
	for p; do
		for f in /proc/$p/task/*/schedstat; do
			s=$((s + $(cut -d' ' -f1 "$f" 2>/dev/null || echo 0)))
		done
	done
	echo $s
}
napi_pids() { pgrep '^napi/veth-s' || true; }
server_ns() { echo $(($(threads_ns "$SERVER") + $(threads_ns $(napi_pids)))); }
# core_ns: "process NAPI softirq", the run time of the server process's
# threads, of veth-s's NAPI threads (threaded NAPI: the receive work, the
# XDP program and its XDP_TX, the wake-ups of the server) and of
# ksoftirqd/1 (softirq work deferred on CPU 1). This kernel has no
# IRQ_TIME_ACCOUNTING: interrupt and softirq time counts to the thread it
# interrupted; what interrupts the idle CPU counts to no thread, hence
# cpu1_ns beside it.
core_ns() {
	echo "$(threads_ns "$SERVER") $(threads_ns $(napi_pids)) $(threads_ns $(pgrep -x 'ksoftirqd/1' || true))"
}
# cpu1_ns: CPU 1's busy time (user, nice, system, irq, softirq) from
# /proc/stat: everything that ran there, sampled at the tick.
cpu1_ns() {
	awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu1" { printf "%.0f", ($2 + $3 + $4 + $7 + $8) * 1e9 / hz }' /proc/stat
}

# fixed SYS WORKLOAD RATE: dnsload at RATE, with the server core's busy time.
fixed() {
	local sys=$1 wl=$2 rate=$3 file=$WORK/hits.q b a
	if [ "${wl#miss}" != "$wl" ]; then misses "f$sys$wl." $(($(mul $rate "$FIXED") + 1000)); file=$WORK/miss.q; fi
	local dst
	dst=$(dst_of "$wl")
	[ "${dst#*:}" != "$dst" ] && dst="[$dst]"
	b=$(server_ns)
	nsx $CLI taskset -c 0 "$WORK/dnsload" -s "$dst:53" -r "$rate" -d "${FIXED}s" -f "$file" >"$WORK/fixed.json"
	a=$(server_ns)
	local ans
	ans=$(sed 's/.*"answered":\([0-9]*\).*/\1/' "$WORK/fixed.json")
	awk -v ns=$((a - b)) -v n="$ans" 'BEGIN { printf "%.2f", (n > 0 ? ns / 1000 / n : 0) }'
}

# The afxdp rows' own counters, from the server's prometheus endpoint.
# Hot answers reach the metrics in batches within 250 ms: wait before a
# scrape that follows a load.
scrape() {
	sleep 0.6
	nsx $SRV curl -s --max-time 3 http://127.0.0.1:9153/metrics >"$WORK/$1.prom" || : >"$WORK/$1.prom"
}
# has FILE NAME: whether a scrape has NAME's series at all.
has() { grep -q "^$2[{ ]" "$WORK/$1.prom"; }
# metric FILE NAME: the sum of NAME's series in a scrape.
metric() {
	awk -v n="$2" 'index($1, n "{") == 1 || $1 == n { s += $NF } END { printf "%.0f", s }' "$WORK/$1.prom"
}
# metricl FILE NAME LABEL: the sum of NAME's series whose labels hold LABEL
# (e.g. reason="overload").
metricl() {
	awk -v n="$2" -v l="$3" 'index($1, n "{") == 1 && index($1, l) > 0 { s += $NF } END { printf "%.0f", s }' "$WORK/$1.prom"
}
# counters BEFORE AFTER: what moved in a step, tab-separated: handoffs,
# kernel RX-ring-full drops, overload drops, frames passed for want of a
# socket, the kernel's other AF_XDP drops (no free frame), fill-ring-empty.
counters() {
	local b=$1 a=$2
	printf '%s\t%s\t%s\t%s' \
		$(($(metric "$a" coredns_afxdp_handoffs_total) - $(metric "$b" coredns_afxdp_handoffs_total))) \
		$(($(metric "$a" coredns_afxdp_xsk_rx_ring_full_total) - $(metric "$b" coredns_afxdp_xsk_rx_ring_full_total))) \
		$(($(metricl "$a" coredns_afxdp_dropped_total 'reason="overload"') - $(metricl "$b" coredns_afxdp_dropped_total 'reason="overload"'))) \
		$(($(metricl "$a" coredns_afxdp_xdp_passed_total 'reason="no_socket"') - $(metricl "$b" coredns_afxdp_xdp_passed_total 'reason="no_socket"')))
	printf '\t%s\t%s' \
		$(($(metric "$a" coredns_afxdp_xsk_rx_dropped_total) - $(metric "$b" coredns_afxdp_xsk_rx_dropped_total))) \
		$(($(metric "$a" coredns_afxdp_xsk_rx_fill_ring_empty_total) - $(metric "$b" coredns_afxdp_xsk_rx_fill_ring_empty_total)))
}
# passed BEFORE AFTER: the hot_passed_total reasons that moved, reason=count.
passed() {
	awk 'match($1, /reason="[^"]*"/) && index($1, "coredns_afxdp_hot_passed_total{") == 1 {
		r = substr($1, RSTART + 8, RLENGTH - 9)
		if (FILENAME == ARGV[1]) b[r] = $NF; else if ($NF - b[r] > 0) { printf "%s%s=%.0f", sep, r, $NF - b[r]; sep = "," }
	} END { if (sep == "") printf "-" }' "$WORK/$1.prom" "$WORK/$2.prom"
}
# hot_counts BEFORE AFTER: "hot xdp all": what moved in coredns_afxdp_hot_hits_total
# (every tier), in its tier="xdp" series (answered by the XDP program) and
# in coredns_dns_responses_total.
hot_counts() {
	echo $(($(metric "$2" coredns_afxdp_hot_hits_total) - $(metric "$1" coredns_afxdp_hot_hits_total))) \
		$(($(metricl "$2" coredns_afxdp_hot_hits_total 'tier="xdp"') - $(metricl "$1" coredns_afxdp_hot_hits_total 'tier="xdp"'))) \
		$(($(metric "$2" coredns_dns_responses_total) - $(metric "$1" coredns_dns_responses_total)))
}
# hot_row SYS WL PHASE BEFORE AFTER: one line of hot.tsv, and the log's.
hot_row() {
	local h x r
	read -r h x r <<<"$(hot_counts "$4" "$5")"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$h" "$r" "$(passed "$4" "$5")" "$x" >>"$OUT/hot.tsv"
	awk -v s="$1" -v w="$2" -v p="$3" -v h="$h" -v x="$x" -v r="$r" 'BEGIN {
		printf "   %s %s %s: coredns_afxdp_hot_hits_total +%d (tier=\"xdp\" +%d) of +%d answers (%.1f %%)\n", s, w, p, h, x, r, (r > 0 ? 100 * h / r : 0) }'
}

# overload SYS WORKLOAD PEAK: xdpgen at fixed rates past the peak, a line
# of overload.tsv per step: system, workload, step, rate asked, sent/s,
# replies/s, peak, and for the afxdp rows what moved in the server's
# counters (as counters prints them; "-" for the other systems).
overload() {
	local sys=$1 wl=$2 peak=$3 steps="1.5 2 4" st ask got c i=0
	[ "$OVERSTEP" != 0 ] && [ "$peak" -gt 0 ] || return 0
	case $sys in afxdp-hot | afxdp-xdp | knot) steps="$steps max" ;; esac
	for st in $steps; do
		if ! fits $(($(mul 1 "$OVERSTEP") + 5)); then skip "$sys $wl overload $st"; continue; fi
		if [ "$st" = max ]; then ask=0; else ask=$(awk -v p="$peak" -v f="$st" 'BEGIN { printf "%d", p * f }'); fi
		case $sys in afxdp-*) scrape "$sys.$wl.o$i.0" ;; esac
		GENLABEL="$sys $wl overload $st"
		got=$(gen2 "$ask" "$(dst_of "$wl")" "$WORK/hits.q" "$OVERSTEP")
		c="-	-	-	-	-	-"
		case $sys in afxdp-*) scrape "$sys.$wl.o$i.1"; c=$(counters "$sys.$wl.o$i.0" "$sys.$wl.o$i.1") ;; esac
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$wl" "$st" "$ask" "${got% *}" "${got#* }" "$peak" "$c" >>"$OUT/overload.tsv"
		awk -v s="$sys" -v w="$wl" -v st="$st" -v a="$ask" -v o="${got% *}" -v r="${got#* }" -v p="$peak" -v c="$c" 'BEGIN {
			printf "   %s %s overload %s: asked %s, sent %d/s, %d replies/s = %.2f of the peak %d; handoffs, rx_ring_full, overload drops, no_socket, xsk rx_dropped, fill_ring_empty: %s\n",
				s, w, (st == "max" ? "max" : st "x"), (a == 0 ? "as fast as xdpgen can" : a "/s"), o, r, (p > 0 ? r / p : 0), p, c }'
		i=$((i + 1))
	done
}

# storm SYS: the upstream silent, unique misses at 3 k/s and cache hits at
# 10 k/s (dnsload, IPv4, one queue) together for STORM seconds. The hits
# are warmed first with dnsload's own queries (an OPT record: the hot
# entries of xdpgen's queries, which have none, are other entries).
storm() {
	local sys=$1 mp hp
	[ "$STORM" -gt 0 ] || return 0
	if ! fits $((STORM + 5)); then skip "$sys storm"; return 0; fi
	nsx $CLI taskset -c 0 "$WORK/dnsload" -s 198.18.0.1:53 -r 5000 -d 1s -f "$WORK/hits.q" >/dev/null
	misses "s$sys." $((3000 * STORM + 1000))
	cp "$WORK/miss.q" "$WORK/storm-miss.q"
	nsx $UPS nft -f - <<'EON'
table inet benchstorm {
	chain input {
		type filter hook input priority 0; policy accept;
		udp dport 53 drop
		tcp dport 53 drop
	}
}
EON
	scrape "$sys.storm.0"
	nsx $CLI taskset -c 0 "$WORK/dnsload" -s 198.18.0.1:53 -r 3000 -d "${STORM}s" -f "$WORK/storm-miss.q" >"$WORK/storm-miss.json" &
	mp=$!
	nsx $CLI taskset -c 0 "$WORK/dnsload" -s 198.18.0.1:53 -r 10000 -d "${STORM}s" -f "$WORK/hits.q" >"$WORK/storm-hit.json" &
	hp=$!
	wait $hp $mp || true
	scrape "$sys.storm.1"
	nsx $UPS nft delete table inet benchstorm
	local c
	c=$(counters "$sys.storm.0" "$sys.storm.1")
	printf '%s\t%s\t%s\t%s\n' "$sys" "$(tr -d '\n' <"$WORK/storm-hit.json")" "$(tr -d '\n' <"$WORK/storm-miss.json")" "$c" >>"$OUT/storm.tsv"
	cp "$WORK/storm-hit.json" "$OUT/storm-hits-$sys.json"
	awk -v s="$sys" -v c="$c" -v h="$(tr -d '\n' <"$WORK/storm-hit.json")" 'BEGIN {
		match(h, /"sent":[0-9]+/); n = substr(h, RSTART + 7, RLENGTH - 7)
		match(h, /"answered":[0-9]+/); a = substr(h, RSTART + 11, RLENGTH - 11)
		match(h, /"mean_us":[0-9.e+]+/); m = substr(h, RSTART + 10, RLENGTH - 10)
		match(h, /"p99_us":[0-9.e+]+/); p = substr(h, RSTART + 9, RLENGTH - 9)
		printf "   %s storm: hits %d of %d answered (%.3f %%), mean %.0f µs, p99 %.0f µs; handoffs, rx_ring_full, overload drops, no_socket, xsk rx_dropped, fill_ring_empty: %s\n",
			s, a, n, (n > 0 ? 100 * a / n : 0), m, p, c }'
}

# cpu_at SYS: xdpgen offers CPURATE/s of IPv4 cache hits for CPUSTEP s
# (after the workloads: warm), with the server's CPU time (core_ns) and CPU
# 1's (cpu1_ns) read around it, and for the afxdp rows the hot answers. A
# line of cpu.tsv: system, rate asked, sent/s, replies/s, sent, replies,
# process ns, NAPI ns, ksoftirqd/1 ns, CPU 1 ns, hot, of them in XDP, all
# answers ("-": not afxdp).
cpu_at() {
	local sys=$1 b a c0 c1 got h="-	-	-" line
	[ "$CPUSTEP" != 0 ] || return 0
	case " $CPUSYS " in *" $sys "*) ;; *) return 0 ;; esac
	if [ -z "${SAT[$sys.hit4]:-}" ] && ! nothing_to_cache "$sys"; then
		GENLABEL="$sys warm hit4"
		gen 20000 198.18.0.1 "$WORK/hits.q" 1 >/dev/null
	fi
	case $sys in afxdp-*) scrape "$sys.cpu.0" ;; esac
	b=$(core_ns) c0=$(cpu1_ns)
	GENLABEL="$sys cpu"
	got=$(gen4 "$CPURATE" 198.18.0.1 "$WORK/hits.q" "$CPUSTEP")
	a=$(core_ns) c1=$(cpu1_ns)
	case $sys in afxdp-*) scrape "$sys.cpu.1"; h=$(hot_counts "$sys.cpu.0" "$sys.cpu.1" | tr ' ' '\t') ;; esac
	line=$(awk -v s="$sys" -v r="$CPURATE" -v g="$got" -v b="$b" -v a="$a" -v c0="$c0" -v c1="$c1" -v h="$h" 'BEGIN {
		split(g, k, " "); split(b, x, " "); split(a, y, " ")
		printf "%s\t%d\t%d\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%s", s, r, k[1], k[2], k[3], k[4], y[1] - x[1], y[2] - x[2], y[3] - x[3], c1 - c0, h }')
	echo "$line" >>"$OUT/cpu.tsv"
	awk -F'\t' '{ n = ($6 > 0 ? $6 : 1)
		printf "   %s at %d/s asked (sent %d/s): %d replies/s; server CPU %.3f µs per answer (process %.3f, NAPI %.3f, ksoftirqd/1 %.3f); CPU 1 busy %.3f µs per answer; hot, in XDP, all: %s %s %s\n",
			$1, $2, $3, $4, ($7 + $8 + $9) / 1000 / n, $7 / 1000 / n, $8 / 1000 / n, $9 / 1000 / n, $10 / 1000 / n, $11, $12, $13 }' <<<"$line"
}

# udp_in: the server namespace's UDP InDatagrams (/proc/net/snmp): the
# datagrams its kernel delivered to a socket.
udp_in() {
	nsx $SRV awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $2; exit }' /proc/net/snmp
}
# many SYS PEAK: xdpgen at MANYRATE/s (half of PEAK if lower) of the IPv4
# hits for MANY seconds, from one source (veth-c's address), then from the
# 65,536 of MANYSRC. A line of many.tsv per run: system, sources ("one" or
# the prefix), rate asked, basis ("fixed": MANYRATE; "half-peak"), the
# peak, sent/s, replies/s, sent, replies, lost (xdpgen's), what the server
# received over AF_XDP (coredns_afxdp_xdp_redirected_total +
# coredns_afxdp_xdp_answered_total; "-": not afxdp) and through its kernel
# (UDP InDatagrams).
many() {
	local sys=$1 peak=$2 rate basis=fixed src label f got x k0 k1 line
	[ "$MANY" != 0 ] || return 0
	case " $MANYSYS " in *" $sys "*) ;; *) return 0 ;; esac
	if ! fits $((2 * ($(mul 1 "$MANY") + 3))); then skip "$sys many sources"; return 0; fi
	rate=$MANYRATE
	if [ $((peak / 2)) -lt "$rate" ]; then rate=$((peak / 2)) basis=half-peak; fi
	[ "$rate" -gt 0 ] || return 0
	for src in "" "$MANYSRC"; do
		label=${src:-one} f=$sys.one
		if [ -n "$src" ]; then f=$sys.many; fi
		case $sys in afxdp-*) scrape "$f.0" ;; esac
		k0=$(udp_in)
		GENLABEL="$sys many sources ($label)" GENSRC=$src
		got=$(gen4 "$rate" 198.18.0.1 "$WORK/hits.q" "$MANY")
		GENSRC=""
		case $sys in afxdp-*) scrape "$f.1" ;; *) sleep 0.6 ;; esac
		k1=$(udp_in)
		x=-
		case $sys in afxdp-*)
			x=$(($(metric "$f.1" coredns_afxdp_xdp_redirected_total) + $(metric "$f.1" coredns_afxdp_xdp_answered_total) -
				$(metric "$f.0" coredns_afxdp_xdp_redirected_total) - $(metric "$f.0" coredns_afxdp_xdp_answered_total)))
			;;
		esac
		line=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$sys" "$label" "$rate" "$basis" "$peak" "$(tr ' ' '\t' <<<"$got")" "$x" $((k1 - k0)))
		echo "$line" >>"$OUT/many.tsv"
		awk -F'\t' '{ n = ($8 > 0 ? $8 : 1)
			printf "   %s many sources (%s) at %d/s asked (%s): sent %d/s, %d replies/s, lost %d of %d; server received over AF_XDP %s (%s), through the kernel %d (%.1f %%)\n",
				$1, $2, $3, $4, $6, $7, $10, $8, $11, ($11 == "-" ? "-" : sprintf("%.1f %%", 100 * $11 / n)), $12, 100 * $12 / n }' <<<"$line"
	done
}

# flood SYS PEAK: real clients beside a flood. For FLOOD seconds xdpgen
# sends two streams of the IPv4 hits at once: FLOODREAL/s from veth-c's
# address (the real clients), and 1.5x the system's own peak from sources
# drawn at random in MANYSRC (a flood of queries that each look like a
# cache hit from a new client: the state a server keeps per source, a rate
# limit, or a route verdict per source would all be tried). A line of
# flood.tsv: system, peak, then from xdpgen the flood's rate asked, sent/s
# and answered/s, the real clients' rate asked, sent, answered, and their
# latency p50, p90, p99 and max (µs).
flood() {
	local sys=$1 peak=$2 rate line
	[ "$FLOOD" != 0 ] || return 0
	case " $FLOODSYS " in *" $sys "*) ;; *) return 0 ;; esac
	if ! fits $(($(mul 1 "$FLOOD") + 3)); then skip "$sys flood"; return 0; fi
	rate=$((peak * 3 / 2))
	[ "$rate" -gt 0 ] || return 0
	GENLABEL="$sys flood" GENSTREAMS="-random -stream $MANYSRC:$rate -stream 198.18.0.2/32:$FLOODREAL"
	if ! gen4 "$rate" 198.18.0.1 "$WORK/hits.q" "$FLOOD" >/dev/null; then GENSTREAMS=""; return 1; fi
	GENSTREAMS=""
	line=$(tail -n 1 "$OUT/xdpgen.jsonl" | jq -r --arg s "$sys" --arg p "$peak" '[$s, $p, .streams[0].rate,
		(.streams[0].sent_per_s | floor), (.streams[0].answered_per_s | floor), .streams[1].rate, .streams[1].sent,
		.streams[1].answered, .streams[1].latency_us.p50, .streams[1].latency_us.p90, .streams[1].latency_us.p99,
		.streams[1].latency_us.max] | map(tostring) | join("\t")')
	echo "$line" >>"$OUT/flood.tsv"
	awk -F'\t' '{ printf "   %s flood at %d/s from random sources (peak %d): sent %d/s, %d answered/s; real clients at %d/s: %d of %d answered, p50 %s us, p99 %s us\n",
		$1, $3, $2, $4, $5, $6, $8, $7, $9, $11 }' <<<"$line"
}

# capacity: what xdpgen can put through veth into the server's core when
# nothing answers. floor -sink on veth-s (CPU 1, as every server) drops
# and counts the IPv4 frames; xdpgen sends the IPv4 hits as fast as it can
# for CAPSTEP seconds. capacity.tsv: "sink", xdpgen's sent/s, sent, its
# sending seconds, and what the sink counted. The generator's answered
# ceiling with reply matching on is the floor row's peak.
capacity() {
	local pid got secs sunk up=""
	[ "$CAPSTEP" != 0 ] || return 0
	echo "== generator capacity"
	ip netns exec $SRV taskset -c 1 "$WORK/floor" -sink -i veth-s >"$WORK/sink.out" 2>"$WORK/sink.log" &
	pid=$!
	for _ in $(seq 30); do
		if nsx $SRV ip -d link show dev veth-s | grep -q 'prog/xdp'; then up=1; break; fi
		sleep 0.1
	done
	if [ -z "$up" ]; then
		kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
		echo "   the sink did not attach: $(tail -n 1 "$WORK/sink.log")"
		return 0
	fi
	pin_napi
	GENLABEL="generator capacity (sink)"
	got=$(gen4 0 198.18.0.1 "$WORK/hits.q" "$CAPSTEP") || got=""
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	nsx $SRV ip link set veth-s xdp off 2>/dev/null || true
	[ -n "$got" ] || return 0
	secs=$(tail -n 1 "$OUT/xdpgen.jsonl" | jq -r .seconds)
	sunk=$(awk '$1 == "sunk" { print $2 }' "$WORK/sink.out")
	set -- $got
	printf 'sink\t%s\t%s\t%s\t%s\n' "$1" "$3" "$secs" "${sunk:--}" >>"$OUT/capacity.tsv"
	echo "   xdpgen sent $1/s for $secs s; the sink on CPU 1 counted ${sunk:-nothing}"
}

# ws_miss_rate SYS, ws_hit_rate SYS: the warm-up's rates (see WSMISS).
ws_miss_rate() {
	local r=$WSMISS p=${SAT[$1.miss4]:-0}
	if [ "$1" = stock ]; then r=$WSMISSK; fi
	if [ "$p" -gt 0 ] && [ $((p * 8 / 10)) -lt "$r" ]; then r=$((p * 8 / 10)); fi
	echo "$r"
}
ws_hit_rate() { if [ "$1" = stock ]; then echo "$WSHITK"; else echo "$WSHIT"; fi; }
# ws_secs N RATE: the seconds in which xdpgen asks N names at RATE/s, 2 %
# more (its pacer may fall a little behind): a pass asks every name once.
ws_secs() { awk -v n="$1" -v r="$2" 'BEGIN { printf "%.2f", n / r * 1.02 + 0.01 }'; }
# ws_base N: what a working-set row takes besides its warm-up, for the
# budget: the start, the scrapes and the stop (~6 s), up to 9 ramp steps
# (each STEP plus ~0.7 s of xdpgen's own), the CPU step, and each xdpgen
# run's packing of the N queries (~0.3 s per million). Rows of 1,000 and
# 100,000 names took 24-28 s and 33-39 s where this says 29 s and 42 s.
ws_base() { awk -v s="$STEP" -v c="$WSCPU" -v n="$1" 'BEGIN { printf "%d", 6 + 9 * (s + 0.7) + c + 1 + 12 * n * 0.3e-6 }'; }
# ws_est SYS N: the whole row: ws_base and the warm-up's two passes.
ws_est() {
	local t
	t=$(ws_base "$2")
	if ! nothing_to_cache "$1"; then
		t=$((t + $2 * 102 / 100 / $(ws_miss_rate "$1") + $2 * 102 / 100 / $(ws_hit_rate "$1") + 2))
	fi
	echo "$t"
}
# ws_notrun SYS N WHY: a line of names.tsv for a row that did not run.
ws_notrun() {
	printf '%s\t%s\tnot run\t%s\n' "$1" "$2" "$3" >>"$OUT/names.tsv"
	echo "   $1 working set of $2 names: not run: $3"
}
# working_set SYS N: SYS afresh with room for N names (WSN), every name
# asked once (misses, at ws_miss_rate) and once more (at ws_hit_rate: each
# name's first cache hit, which fills its hot entry, and the names the
# first pass lost); then the ramp over the N names and the CPU
# step at WSRATE/s, or the ramp's peak if lower (a system offered far past
# its peak would spend its core dropping what it cannot answer). The CoreDNS
# rows' counters are scraped at the start (.s), after the warm-up (.0),
# after the ramp (.1) and after the CPU step (.2). A line of names.tsv:
# system, names, "ran", what was configured for N, the warm-up's passes
# (misses, second, third: rate, sent, answered; "-": none), the cache's
# entries and the hot table's after it, the ramp's peak, its hot answers
# (every tier, in XDP, all answers) and cache misses, the CPU step's rate,
# basis (fixed; peak), sent/s, replies/s, sent, replies, lost, process,
# NAPI, ksoftirqd/1 and CPU 1 ns, its hot answers (every tier, in XDP,
# all), the hot table's and the cache's evictions over the row, and for hot
# xdp the XDP program's table: its entries after the warm-up and the
# entries it refused for want of room over the row ("-": not that
# system's, or a plugin without those series).
working_set() {
	local sys=$1 n=$2 wl=ws$2.hit4 k=$1.ws$2 est conf=- r1=- w1="-	-" r2=- w2="-	-" r3=- w3="-	-" cached=- hot=- sat
	local rate basis=fixed got b a c0 c1 hr="-	-	-" h="-	-	-" miss=- ev="-	-" line coredns="" t0 m xe=- xr=-
	t0=$(date +%s)
	est=$(ws_est "$sys" "$n")
	WS_LEFT=$((WS_LEFT - est))
	if [ -n "${NOTRUN[$sys]:-}" ]; then ws_notrun "$sys" "$n" "${NOTRUN[$sys]}"; return 0; fi
	if ! fits "$est"; then
		skip "$sys working set of $n names"
		ws_notrun "$sys" "$n" "shed for the time budget ($BUDGET s)"
		return 0
	fi
	echo "== $sys, working set of $n names"
	WSN=$n
	if ! start_system "$sys"; then
		# More hot_entries than the option takes: its error says the
		# most it takes; start again with that.
		m=$(grep -o 'hot_entries [0-9]*: at most [0-9]*' "$WORK/$sys.log" 2>/dev/null | head -n 1 | sed 's/.* //' || true)
		stop_system
		if [ -n "$m" ] && [ "$m" -gt 0 ] && [ "$WS_HOT_MAX" = 0 ]; then
			WS_HOT_MAX=$m
			echo "   hot_entries takes at most $m: $sys starts again with that"
		else
			m=""
		fi
		if [ -z "$m" ] || ! start_system "$sys"; then
			WSN=0
			ws_notrun "$sys" "$n" "did not answer dig within 10 s of its start (its log's last line: $(tail -n 1 "$WORK/$sys.log" 2>/dev/null | tr '\t' ' '))"
			stop_system
			return 0
		fi
	fi
	WSN=0
	case $sys in
	stock | afxdp-*) coredns=1 conf="cache success $(ws_cache "$n")" ;;
	knot) conf="a zone of the $n names as records" ;;
	esac
	case $sys in afxdp-*)
		conf="$conf, hot_entries $(ws_hot "$n")"
		if [ "$(ws_hot "$n")" -lt $((2 * n)) ]; then conf="$conf (the most it takes)"; fi
		;;
	esac
	if [ -n "$coredns" ]; then scrape "$k.s"; fi
	echo 0 >"$WORK/ws.next"
	GENNAMES=$n
	if ! nothing_to_cache "$sys"; then
		r1=$(ws_miss_rate "$sys") r2=$(ws_hit_rate "$sys")
		GENIDLE=200us
		GENLABEL="$sys $wl warm-up misses"
		got=$(gen4 "$r1" 198.18.0.1 - "$(ws_secs "$n" "$r1")")
		w1=$(awk '{ printf "%d\t%d", $3, $4 }' <<<"$got")
		GENLABEL="$sys $wl warm-up second pass"
		got=$(gen4 "$r2" 198.18.0.1 - "$(ws_secs "$n" "$r2")")
		w2=$(awk '{ printf "%d\t%d", $3, $4 }' <<<"$got")
		scrape "$k.0"
		cached=$(metricl "$k.0" coredns_cache_entries 'type="success"')
		# Names both passes lost (the server stalls now and then: a pass
		# can lose a few % at any rate) would be misses in the ramp: one
		# more pass if the cache holds fewer than N names and time allows.
		if [ "$cached" -lt "$n" ]; then
			if fits $(($(ws_base "$n") + n / r2)); then
				r3=$r2
				GENLABEL="$sys $wl warm-up third pass"
				got=$(gen4 "$r3" 198.18.0.1 - "$(ws_secs "$n" "$r3")")
				w3=$(awk '{ printf "%d\t%d", $3, $4 }' <<<"$got")
				scrape "$k.0"
				cached=$(metricl "$k.0" coredns_cache_entries 'type="success"')
			else
				skip "$sys working set of $n names: third warm-up pass"
			fi
		fi
		GENIDLE=""
		case $sys in afxdp-*) hot=$(metric "$k.0" coredns_afxdp_hot_entries) ;; esac
		if [ "$sys" = afxdp-xdp ] && has "$k.0" coredns_afxdp_hot_xdp_entries; then xe=$(metric "$k.0" coredns_afxdp_hot_xdp_entries); fi
		awk -v s="$sys" -v n="$n" -v r1="$r1" -v w1="$w1" -v r2="$r2" -v w2="$w2" -v r3="$r3" -v w3="$w3" -v c="$cached" -v h="$hot" 'BEGIN {
			split(w1, a, "\t"); split(w2, b, "\t"); split(w3, d, "\t")
			printf "   %s working set of %d names, warm-up: misses at %d/s: %d sent, %d answered", s, n, r1, a[1], a[2]
			printf "; second pass at %d/s: %d sent, %d answered", r2, b[1], b[2]
			if (r3 != "-") printf "; third pass at %d/s: %d sent, %d answered", r3, d[1], d[2]
			printf "; the cache holds %s names, the hot table %s entries\n", c, h }'
	fi
	sat=$(ramp "$sys" "$wl")
	if [ -n "$coredns" ]; then
		scrape "$k.1"
		miss=$(($(metric "$k.1" coredns_cache_misses_total) - $(metric "$k.0" coredns_cache_misses_total)))
	fi
	case $sys in afxdp-*) hr=$(hot_counts "$k.0" "$k.1" | tr ' ' '\t') ;; esac
	rate=$WSRATE
	if [ "$sat" -gt 0 ] && [ "$sat" -lt "$rate" ]; then rate=$sat basis=peak; fi
	b=$(core_ns) c0=$(cpu1_ns)
	GENLABEL="$sys $wl cpu"
	got=$(gen4 "$rate" 198.18.0.1 - "$WSCPU")
	a=$(core_ns) c1=$(cpu1_ns)
	GENNAMES=""
	if [ -n "$coredns" ]; then
		scrape "$k.2"
		ev="-	$(($(metric "$k.2" coredns_cache_evictions_total) - $(metric "$k.s" coredns_cache_evictions_total)))"
	fi
	case $sys in afxdp-*)
		h=$(hot_counts "$k.1" "$k.2" | tr ' ' '\t')
		ev="$(($(metric "$k.2" coredns_afxdp_hot_evictions_total) - $(metric "$k.s" coredns_afxdp_hot_evictions_total)))	${ev#*	}"
		;;
	esac
	if [ "$sys" = afxdp-xdp ] && has "$k.2" coredns_afxdp_hot_xdp_refused_total; then
		xr=$(($(metricl "$k.2" coredns_afxdp_hot_xdp_refused_total 'reason="full"') - $(metricl "$k.s" coredns_afxdp_hot_xdp_refused_total 'reason="full"')))
	fi
	line=$(awk -v s="$sys" -v n="$n" -v conf="$conf" -v r1="$r1" -v w1="$w1" -v r2="$r2" -v w2="$w2" -v r3="$r3" -v w3="$w3" -v c="$cached" -v hot="$hot" \
		-v sat="$sat" -v hr="$hr" -v m="$miss" -v r="$rate" -v basis="$basis" -v g="$got" -v b="$b" -v a="$a" -v c0="$c0" -v c1="$c1" \
		-v h="$h" -v ev="$ev" -v xe="$xe" -v xr="$xr" 'BEGIN {
		split(g, k, " "); split(b, x, " "); split(a, y, " ")
		printf "%s\t%d\tran\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%s\t%s\t%s",
			s, n, conf, r1, w1, r2, w2, r3, w3, c, hot, sat, hr, m, r, basis, k[1], k[2], k[3], k[4], k[5],
			y[1] - x[1], y[2] - x[2], y[3] - x[3], c1 - c0, h, ev, xe, xr }')
	echo "$line" >>"$OUT/names.tsv"
	awk -F'\t' -v t="$(($(date +%s) - t0))" -v e="$est" '{ q = ($26 > 0 ? $26 : 1)
		printf "   %s working set of %d names: peak %d replies/s", $1, $2, $16
		if ($19 != "-") printf " (hot %d, in XDP %d, of %d answers)", $17, $18, $19
		if ($20 != "-") printf ", cache misses %s", $20
		printf "; at %d/s asked (%s; sent %d/s): %d replies/s, server CPU %.3f µs per answer (process %.3f, NAPI %.3f, ksoftirqd/1 %.3f), CPU 1 busy %.3f µs per answer",
			$21, $22, $23, $24, ($28 + $29 + $30) / 1000 / q, $28 / 1000 / q, $29 / 1000 / q, $30 / 1000 / q, $31 / 1000 / q
		if ($34 != "-") printf "; hot %d (in XDP %d) of %d", $32, $33, $34
		printf "; evictions: hot table %s, cache %s", $35, $36
		if ($37 != "-") printf "; XDP table: %s entries after the warm-up, %s refused (full)", $37, $38
		printf "; took %d s (budgeted %d s)\n", t, e }' <<<"$line"
	stop_system
}

# Knot is authoritative; the reflector and the floor answer everything at
# once: none of them has misses, nor anything to warm.
nothing_to_cache() { case $1 in knot | reflector | floor) return 0 ;; esac; return 1; }
runs() { ! nothing_to_cache "$1" || [ "${2#miss}" = "$2" ]; }
for sys in $SYSTEMS; do for wl in $WORKLOADS; do if runs "$sys" "$wl"; then ROWS_LEFT=$((ROWS_LEFT + 1)); fi; done; done

# binary ROLE PATH SOURCE: a line of binaries.tsv: what ran as ROLE (a
# system, the generator), its path, sha256 and where it came from.
binary() {
	local p=$2
	case $p in */*) ;; *) p=$(command -v "$p") ;; esac
	p=$(readlink -f "$p")
	printf '%s\t%s\t%s\t%s\n' "$1" "$p" "$(sha256sum "$p" | cut -d' ' -f1)" "$3" >>"$OUT/binaries.tsv"
}
deb() { deb_file "$(readlink -f "$(command -v "$1")")"; }
deb_file() { dpkg-query -W -f='Debian ${Package} ${Version}' "$(dpkg -S "$(readlink -f "$1")" 2>/dev/null | cut -d: -f1)" 2>/dev/null || echo "not from a Debian package"; }
REV=$(git -c safe.directory="$PWD" describe --always --dirty 2>/dev/null || echo unknown)
binary xdpgen "$WORK/xdpgen" "go build ./bench/xdpgen, afxdp $REV (load generator: ramps, overload, CPU step)"
binary dnsload "$WORK/dnsload" "go build ./bench/dnsload, afxdp $REV (latency runs, storm)"
binary upstream ./coredns "go build ./build, afxdp $REV (the upstream: file plugin)"
for sys in $SYSTEMS; do
	case $sys in
	stock | afxdp-*) binary "$sys" ./coredns "go build ./build, afxdp $REV" ;;
	knot) binary knot knotd "$(deb knotd)" ;;
	dnsmasq) binary dnsmasq dnsmasq "$(deb dnsmasq)" ;;
	dnsdist) binary dnsdist dnsdist "$(deb dnsdist)" ;;
	floor | reflector) binary "$sys" "$WORK/$sys" "go build ./bench/$sys, afxdp $REV" ;;
	esac
done

case " $SYSTEMS " in *" knot "*) echo "== probing knotd in XDP mode"; probe_knot ;; esac
capacity

declare -A SAT
# The working-set rows' systems: WSSYS of SYSTEMS that have one (a cache
# sized per N, or nothing to cache), and the time they will take.
WS_SYS="" WS_NAMES=""
if [ "$WSNAMES" != 0 ]; then
	WS_NAMES=$WSNAMES
	for sys in $WSSYS; do
		case " $SYSTEMS " in *" $sys "*) ;; *) continue ;; esac
		case $sys in
		stock | afxdp-* | knot) WS_SYS="$WS_SYS $sys" ;;
		*) echo "   working set: $sys has no such row (only stock, the afxdp rows and knot)" ;;
		esac
	done
fi
for n in $WS_NAMES; do for sys in $WS_SYS; do
	if [ -z "${NOTRUN[$sys]:-}" ]; then WS_LEFT=$((WS_LEFT + $(ws_est "$sys" "$n"))); fi
done; done
for sys in $SYSTEMS; do
	echo "== $sys"
	if [ -n "${NOTRUN[$sys]:-}" ]; then
		echo "   not run: ${NOTRUN[$sys]}"
		for wl in $WORKLOADS; do if runs "$sys" "$wl"; then ROWS_LEFT=$((ROWS_LEFT - 1)); fi; done
		continue
	fi
	if ! start_system "$sys"; then
		not_run "$sys" "did not answer dig within 10 s of its start (its log's last line: $(tail -n 1 "$WORK/$sys.log" 2>/dev/null | tr '\t' ' '))"
		stop_system
		for wl in $WORKLOADS; do if runs "$sys" "$wl"; then ROWS_LEFT=$((ROWS_LEFT - 1)); fi; done
		continue
	fi
	for wl in $WORKLOADS; do
		runs "$sys" "$wl" || continue
		ROWS_LEFT=$((ROWS_LEFT - 1))
		if [ "${wl#hit}" != "$wl" ] && ! nothing_to_cache "$sys"; then # warm the cache (and the hot table)
			GENLABEL="$sys warm $wl"
			gen 20000 "$(dst_of "$wl")" "$WORK/hits.q" 1 >/dev/null
		fi
		case $sys in afxdp-*) scrape "$sys.$wl.0" ;; esac
		sat=$(ramp "$sys" "$wl")
		case $sys in afxdp-*) scrape "$sys.$wl.1" ;; esac
		SAT[$sys.$wl]=$sat
		base=${SAT[stock.$wl]:-$sat}
		rate=$((base / 2))
		cpu=$(fixed "$sys" "$wl" "$rate")
		case $sys in afxdp-*)
			scrape "$sys.$wl.2"
			hot_row "$sys" "$wl" ramp "$sys.$wl.0" "$sys.$wl.1"
			hot_row "$sys" "$wl" fixed "$sys.$wl.1" "$sys.$wl.2"
			;;
		esac
		cp "$WORK/fixed.json" "$OUT/latency-$sys-$wl.json"
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$wl" "$sat" "$rate" "$cpu" "$(tr -d '\n' <"$WORK/fixed.json")" >>"$OUT/results.tsv"
		echo "   $sys $wl: saturation $sat/s; at $rate/s: $cpu µs CPU per answer"
		if [ "${wl#hit}" != "$wl" ]; then
			case " $OVERSYS " in *" $sys "*) case " $OVERWL " in *" $wl "*) overload "$sys" "$wl" "$sat" ;; esac ;; esac
		fi
		if [ "$wl" = hit4 ]; then many "$sys" "$sat" && flood "$sys" "$sat"; fi
	done
	cpu_at "$sys"
	case $sys in stock | afxdp-*) storm "$sys" ;; esac
	case $sys in afxdp-*) grep -h 'hot answers' "$WORK/$sys.log" | sed 's/^/   log: /' || true ;; esac
	stop_system
done
# The working-set rows, after every other row, the smallest sets first: the
# budget sheds the largest.
for n in $WS_NAMES; do for sys in $WS_SYS; do working_set "$sys" "$n"; done; done
kill $UPSTREAM 2>/dev/null || true

echo "== report"
{
	echo "cmd=$CMD"
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "wall_s=$(($(date +%s) - START))"
	echo "systems=$SYSTEMS"
	echo "workloads=$WORKLOADS"
	echo "step_s=$STEP"
	echo "fixed_s=$FIXED"
	echo "overstep_s=$OVERSTEP"
	echo "oversys=$OVERSYS"
	echo "overwl=$OVERWL"
	echo "storm_s=$STORM"
	echo "cpu_rate=$CPURATE"
	echo "cpu_s=$CPUSTEP"
	echo "cpu_sys=$CPUSYS"
	echo "many_s=$MANY"
	echo "many_rate=$MANYRATE"
	echo "many_sys=$MANYSYS"
	echo "many_src=$MANYSRC"
	echo "flood_s=$FLOOD"
	echo "flood_sys=$FLOODSYS"
	echo "flood_real=$FLOODREAL"
	echo "cap_s=$CAPSTEP"
	echo "ws_names=$WS_NAMES"
	echo "ws_knot_zone=records"
	echo "ws_sys=${WS_SYS# }"
	echo "ws_miss=$WSMISS"
	echo "ws_hit=$WSHIT"
	echo "ws_miss_k=$WSMISSK"
	echo "ws_hit_k=$WSHITK"
	echo "ws_rate=$WSRATE"
	echo "ws_s=$WSCPU"
	echo "budget_s=$BUDGET"
	echo "skipped=$(paste -sd, "$WORK/skipped")"
	echo "kernel=$(uname -r)"
	echo "knot=$(knotd --version 2>/dev/null | head -n 1)"
	echo "dnsmasq=$(dnsmasq --version 2>/dev/null | head -n 1 | sed 's/  Copyright.*//')"
	echo "dnsdist=$(dnsdist --version 2>/dev/null | head -n 1)"
	echo "generator=xdpgen"
	echo "generator_src=bench/xdpgen, afxdp $REV, sha256 $(sha256sum "$WORK/xdpgen" | cut -d' ' -f1)"
	echo "generator_args=-iface veth-c -edns=false -timeout $GENWAIT -cpu 0 -gomaxprocs 1 (taskset -c 0), queue 0"
	echo "notrun=$(cut -f1 "$OUT/notrun.tsv" | paste -sd, -)"
} >"$OUT/run.txt"
# BENCHMARKS.md shows the latest run of make bench and of make bench-all;
# a run elsewhere (OUT=...) gets its own summary only.
case $OUT in
results | results/all) "$WORK/report" -runs results,results/all -md BENCHMARKS.md ;;
*) "$WORK/report" -runs "$OUT" -md "" ;;
esac
(cd "$OUT" && gnuplot plots.gp)
cat "$OUT/summary.md"
echo "== $CMD took $(($(date +%s) - START)) s"
