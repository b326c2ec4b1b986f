// Package deploy holds no code. Beside it are what operators deploy with
// the coredns binary: a systemd unit (systemd/), Prometheus alerting rules
// (prometheus/) and a Grafana dashboard (grafana/). Its test holds them to
// the plugin's exported metrics, to README.md's capability table, and to
// the tools that read them (systemd-analyze, promtool).
package deploy
