# afxdp: CoreDNS serving DNS over AF_XDP.
#   make build     the coredns binary (every stock plugin + afxdp) at ./coredns
#   make run       build, make a test network, serve through AF_XDP, answer (root)
#   make test      every test, privileged ones included (root)
#   make bench     side-by-side benchmarks (root)
#   make generate  recompile the XDP program (installs clang if missing)

GO       ?= go
BPF_ARCH := $(shell uname -m)
export BPF2GO_CFLAGS := -O2 -g -Wall -Werror -mcpu=v3 -I/usr/include/$(BPF_ARCH)-linux-gnu

# What `make run` and the tests use from Debian, as command:package.
TOOLS := ip:iproute2 nft:nftables ethtool:ethtool dig:bind9-dnsutils curl:curl setpriv:util-linux

.PHONY: build run test fuzz bench generate deps clean

build:
	$(GO) build -o coredns ./build

run: build deps
	DURATION=$(DURATION) ./run/run.sh

# -p 1: the privileged tests of different packages must not share the
# machine's two cores while they measure nothing but still race for them.
test: deps
	$(GO) vet ./...
	$(GO) test -p 1 -count=1 -timeout 30m ./...

# Each fuzz target for a bounded time (FUZZTIME each), on top of the seed
# corpus that `make test` already runs.
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run XXX -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./plugin/afxdp/frame/
	$(GO) test -run XXX -fuzz '^FuzzServeFrame$$' -fuzztime $(FUZZTIME) ./plugin/afxdp/
	$(GO) test -run XXX -fuzz '^FuzzFilter$$' -fuzztime $(FUZZTIME) ./bpf/

# Bounded: the script stops every load itself; the timeout is a backstop.
bench: deps
	timeout 900 ./bench/bench.sh

generate:
	@command -v clang >/dev/null && [ -e /usr/include/bpf/bpf_helpers.h ] || \
		(apt-get update && apt-get install -y --no-install-recommends clang llvm libbpf-dev)
	$(GO) generate ./bpf/

deps:
	@missing=""; for t in $(TOOLS); do command -v $${t%%:*} >/dev/null || missing="$$missing $${t##*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

clean:
	rm -f coredns
