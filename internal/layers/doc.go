// Package layers holds the packages of this module to the layering that
// the README's design notes describe ("Layers"): Rules says, for bpf, xsk,
// frame, route, datapath, hot, nic and the CoreDNS glue, which of the module's
// packages each imports (exactly those), which outside modules it may
// import, and what may never appear among its dependencies; Check applies
// one rule to an import set. Its tests run Check on each package's own
// import set as go list reports it, hold Check to made-up import sets, and
// compare the README's Layers paragraph (read by ReadmeImports) with
// Rules. Change the README and Rules together.
//
// The layering, in short: the ring layer (xsk) knows nothing of DNS, BPF
// or CoreDNS; the codec (frame) knows nothing of rings; bpf knows neither;
// route knows none of them; datapath composes the four without a DNS
// library or CoreDNS; hot knows the DNS wire format and none of them; nic
// (the driver's XDP features) knows none of them, nor Prometheus; the glue
// (plugin/afxdp) composes everything and is the only one to know CoreDNS.
// No package's own code depends on internal/, whose packages are for
// tests.
//
// It knows packages by their import paths only and imports none of them.
// Where to start: layers.go (Rules, Check, ReadmeImports), then its tests.
package layers
