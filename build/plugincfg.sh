#!/usr/bin/env bash
# The README's route for CoreDNS users, checked end to end: take CoreDNS's own
# source (the version go.mod requires, from the module cache), add afxdp to
# its plugin.cfg as an external plugin, `go generate` and `go build` it as
# CoreDNS's documentation says, and check that the binary lists afxdp.
# With RUN=1 (root) it then serves `make run`'s Corefile with that binary:
#   BIN=<that coredns> DURATION=1 ./run/run.sh
# Everything happens in a temporary directory, removed however it exits.
#
#   build/plugincfg.sh          build and check -plugins
#   RUN=1 build/plugincfg.sh    also make run with it (root)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
GO=${GO:-go}
RUN=${RUN:-0}
MOD=$(sed -n 's/^module //p' go.mod)
export GOWORK=off GOTOOLCHAIN=${GOTOOLCHAIN:-local}
COREDNS=${COREDNS:-$($GO list -m -f '{{.Version}}' github.com/coredns/coredns)}

TMP=$(mktemp -d /tmp/afxdp-plugincfg.XXXXXX)
chmod 755 "$TMP" # run.sh's coredns may run as another user
trap 'chmod -R u+w "$TMP" 2>/dev/null; rm -rf "$TMP"' EXIT
step() { printf '\n== plugincfg: %s\n' "$*"; }

step "CoreDNS $COREDNS source from the module cache"
json=$($GO mod download -json "github.com/coredns/coredns@$COREDNS")
dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
if [ -z "$dir" ] || [ ! -f "$dir/plugin.cfg" ]; then
	echo "no CoreDNS source for $COREDNS:" >&2
	printf '%s\n' "$json" >&2
	exit 1
fi
SRC=$TMP/coredns
cp -r "$dir" "$SRC"
chmod -R u+w "$SRC" # the module cache is read-only
cd "$SRC"

# Last: afxdp adds no handler to the chain; its place orders only the setup
# functions, and it must run after any plugin that sets a UDP writer
# decorator (shed) so that it chains it (see build/directives.go).
step "plugin.cfg += afxdp:$MOD/plugin/afxdp"
[ -z "$(tail -c1 plugin.cfg)" ] || echo >>plugin.cfg
echo "afxdp:$MOD/plugin/afxdp" >>plugin.cfg
tail -n 3 plugin.cfg

step "go.mod: require $MOD, replace it with $REPO"
$GO mod edit -require="$MOD@v0.0.0" -replace="$MOD=$REPO"

step "go generate (core/plugin/zplugin.go, core/dnsserver/zdirectives.go)"
$GO generate coredns.go
last=$(grep -o '"[a-z0-9_]*",' core/dnsserver/zdirectives.go | tail -n 1)
if [ "$last" != '"afxdp",' ]; then
	echo "afxdp is not the last directive in core/dnsserver/zdirectives.go (last: $last)" >&2
	exit 1
fi
grep -F "\"$MOD/plugin/afxdp\"" core/plugin/zplugin.go

# afxdp's own requirements may be newer than CoreDNS's: settle the module
# graph now that zplugin.go imports it (as CoreDNS's Makefile does with go get).
step "go mod tidy"
$GO mod tidy
$GO list -m "$MOD"

step "go build (a few minutes the first time)"
CGO_ENABLED=0 $GO build -o coredns .

step "./coredns -plugins"
./coredns -version
# caddy registers it as dns.afxdp; -plugins prints names without "dns.".
if ! ./coredns -plugins | grep -Fx afxdp; then
	echo "./coredns -plugins does not list afxdp" >&2
	./coredns -plugins >&2
	exit 1
fi

if [ "$RUN" = 1 ]; then
	step "BIN=$SRC/coredns DURATION=1 ./run/run.sh"
	cd "$REPO"
	BIN="$SRC/coredns" DURATION=1 ./run/run.sh
fi
step "ok"
