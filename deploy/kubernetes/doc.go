// Package kubernetes holds no code. Beside it are the Kubernetes manifests
// of afxdp: cluster DNS (cluster-dns/: kubeadm's CoreDNS Deployment with the
// afxdp image) and node-local DNS (node-local/: a DaemonSet of afxdp pods
// and noderoute, which routes the node-local address to them), each a
// kustomize base. Its test decodes every document strictly into the
// Kubernetes API types and holds them to README.md's capability table, to
// the image build/image writes, and to the Corefiles they carry, which it
// parses with CoreDNS's and afxdp's own parsers.
package kubernetes
