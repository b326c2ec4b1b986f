// Package dnstest asks DNS questions from inside a test network namespace
// (Exchange: one query over UDP or TCP from a fresh socket, the answer
// checked against its ID).
//
// For tests only: no package's own code may import it. It knows miekg/dns
// and netns, nothing of afxdp's own packages: it is the client that sees
// what any client would.
package dnstest
