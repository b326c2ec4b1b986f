// Package kubernetes holds the Kubernetes manifests of afxdp and the code
// that generates and writes them. Beside it: cluster DNS (cluster-dns/:
// kubeadm's CoreDNS Deployment with the afxdp image), node-local DNS
// (node-local/: a DaemonSet of afxdp pods and noderoute, which routes the
// node-local address to them) and monitoring (monitoring/: a PodMonitor of
// both, and deploy/prometheus's alerting rules and deploy/grafana's
// dashboard as a PrometheusRule and a ConfigMap, generated from them), each
// a kustomize base. `make k8s` writes the bases with the image reference
// pinned to the tarball `make image` wrote (Write, PinnedImage).
//
// Its test decodes every document strictly into the Kubernetes API types
// (and the Prometheus Operator's) and holds them to README.md's capability
// table, to the image build/image writes, to the Corefiles they carry,
// which it parses with CoreDNS's and afxdp's own parsers, and the monitoring
// base to its sources.
package kubernetes

//go:generate go run ./manifests generate
