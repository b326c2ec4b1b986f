# afxdp: CoreDNS serving DNS over AF_XDP.
#   make build     the coredns binary (every stock plugin + afxdp) at ./coredns
#   make run       build, make a test network, serve through AF_XDP, answer (root)
#   make test      every test, privileged ones included (root)
#   make bench     side-by-side benchmarks (root)
#   make generate  recompile the XDP program with clang-14 (installs it if missing)
#   make check     what CI checks besides the tests: gofmt, regeneration, plugin.cfg
#   make plugincfg afxdp added to CoreDNS's own plugin.cfg and built (RUN=1: and served)
#   make image     the container image as a docker save tarball, without a daemon
#   make k8s       the image and the Kubernetes manifests naming it, in .cache/k8s

GO    ?= go
GOFMT ?= $(shell $(GO) env GOROOT)/bin/gofmt
# The compiler of the committed bpf/filter_bpfel.o (Debian 12's clang). Another
# major version makes another object, which CI's regeneration check rejects.
CLANG       ?= clang-14
CLANG_MAJOR ?= 14

# What `make run`, the tests and CI use from Debian, as command-or-file:package.
# systemd-analyze and promtool: deploy/'s test verifies the systemd unit and
# checks and unit-tests the Prometheus alerting rules. dnsperf: test/e2e
# cross-checks the benchmark's load generator (bench/xdpgen) against it.
TOOLS := ip:iproute2 nft:nftables ethtool:ethtool dig:bind9-dnsutils curl:curl \
	setpriv:util-linux sysctl:procps systemd-analyze:systemd promtool:prometheus \
	setcap:libcap2-bin dnsperf:dnsperf
# What `make generate` uses: clang, the llvm-strip bpf2go picks to match it
# (clang-14: llvm-strip-14), libbpf's headers (they bring the kernel's).
BPF_TOOLS := $(CLANG):$(CLANG) $(subst clang,llvm-strip,$(CLANG)):$(subst clang,llvm,$(CLANG)) \
	/usr/include/bpf/bpf_helpers.h:libbpf-dev

.PHONY: build run test fuzz bench generate check check-fmt check-generate plugincfg deps deps-bpf clean

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
	$(GO) test -run XXX -fuzz '^FuzzAnswer$$' -fuzztime $(FUZZTIME) ./plugin/afxdp/hot/

# Bounded: the script stops every load itself; the timeout is a backstop.
# bench: the rows that matter most, on cache hits, with the overload steps
# past each peak and the miss storm (under 10 minutes: about 5 with xdpgen);
# bench-all: every row and workload, the same overload steps and storm
# (up to 30 minutes). OVERSTEP=0 / STORM=0 leave those out. BENCHMARKS.md.
bench: deps
	timeout 600 ./bench/bench.sh
.PHONY: bench-all
bench-all: deps
	timeout 1800 ./bench/bench.sh all

# The compiler flags are in bpf/gen.go's go:generate line (and the same in
# bench/floor/main.go's, the benchmark's floor program); bpf2go (go.mod's
# tool line) takes its compiler from BPF2GO_CC.
generate: deps-bpf
	@v=$$($(CLANG) --version | head -n 1); echo "$(CLANG): $$v"; \
	case "$$v" in *" version $(CLANG_MAJOR)."*) ;; \
	*) echo "make generate: $(CLANG) is not clang $(CLANG_MAJOR); set CLANG and CLANG_MAJOR together" >&2; exit 1;; esac
	BPF2GO_CC=$(CLANG) $(GO) generate ./bpf/ ./bench/floor/

check: check-fmt check-generate plugincfg

check-fmt:
	@out=$$($(GOFMT) -l $$(find . -path ./.cache -prune -o -name '*.go' -print)) || exit 1; \
	if [ -n "$$out" ]; then echo "gofmt -l lists:" >&2; echo "$$out" >&2; exit 1; fi

# The committed bpf/ and bench/floor/ must be exactly what make generate
# makes from them.
check-generate: generate
	git -c safe.directory='$(CURDIR)' diff --exit-code -- bpf/ bench/floor/
	@new=$$(git -c safe.directory='$(CURDIR)' ls-files --others --exclude-standard -- bpf/ bench/floor/); \
	if [ -n "$$new" ]; then echo "make generate made files that are not committed:" $$new >&2; exit 1; fi

# The README's route for CoreDNS users, in a temporary directory: CoreDNS's
# own source with afxdp in plugin.cfg, go generate, go build, -plugins lists
# afxdp. RUN=1 (root) also serves make run's Corefile with that binary.
plugincfg:
	RUN=$(RUN) GO=$(GO) ./build/plugincfg.sh

# The container image (deploy/kubernetes's manifests run it) as a `docker
# save` tarball, without a daemon or registry: static binaries, then
# build/image, which gives coredns its file capabilities. Load it with
# `docker load -i`, `ctr images import` or `kind load image-archive`.
# Reproducible: the same sources and Go give the same bytes.
IMAGE     ?= localhost/afxdp/coredns:dev
IMAGE_TAR ?= .cache/image/coredns-afxdp.tar
STATIC    := CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w -buildid='
.PHONY: image
image:
	mkdir -p .cache/image $(dir $(IMAGE_TAR))
	$(STATIC) -o .cache/image/coredns ./build
	$(STATIC) -o .cache/image/noderoute ./deploy/kubernetes/noderoute
	$(GO) run ./build/image -coredns .cache/image/coredns -noderoute .cache/image/noderoute \
		-tag $(IMAGE) -o $(IMAGE_TAR)

# The image, then the kustomize bases (cluster-dns, node-local, monitoring)
# in K8S_DIR with every image reference the tarball's pinned name,
# localhost/afxdp/coredns:dev-<first 12 hex digits of the image ID>, which
# the tarball carries beside :dev (build/image; deploy/kubernetes/manifests).
K8S_DIR ?= .cache/k8s
.PHONY: k8s
k8s: image
	$(GO) run ./deploy/kubernetes/manifests write -dir deploy/kubernetes -image-tar $(IMAGE_TAR) -o $(K8S_DIR)

# Installs from Debian whatever in the list is missing.
install = @missing=""; for t in $(1); do c=$${t%%:*}; \
		command -v $$c >/dev/null || [ -e $$c ] || missing="$$missing $${t\#\#*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

# Debian's prometheus package (for promtool) enables a Prometheus server and,
# where systemd runs, starts it: deps stops and disables one it installed
# itself, so that it takes no CPU from the tests.
PROMTOOL_MISSING := $(shell command -v promtool >/dev/null || echo yes)

deps:
	$(call install,$(TOOLS))
ifeq ($(PROMTOOL_MISSING),yes)
	@systemctl disable --now prometheus.service 2>/dev/null || true
endif

deps-bpf:
	$(call install,$(BPF_TOOLS))

clean:
	rm -f coredns
