// Package hot answers repeated CoreDNS cache hits without running the plugin
// chain. An entry is filled from a reply the chain wrote for a cache hit;
// later queries with the same cache key get the bytes the chain would write
// for them: the client's ID, flags and question spelling, the stored records
// with their TTLs aged, and the client's own OPT as the ScrubWriter echoes
// it. Anything this package cannot copy exactly is passed to the chain, with
// a Reason for the hot_passed_total{reason} metric. What users are promised,
// and which blocks and queries answer hot, is the "Hot answers" section of
// the plugin's README (plugin/afxdp/README.md).
//
// # Layers
//
// It knows the DNS wire format (miekg/dns to read the replies it fills
// from) and nothing of CoreDNS, rings, frames or BPF: it imports no other
// package of this module. Queries and answers are byte slices, the time is
// the caller's. The glue (plugin/afxdp) decides which chains may be
// mirrored and calls it; the XDP program's copy of the entries is written
// by the glue from this package's exports.
//
// # The caller
//
//   - decides which chains may be mirrored (cache present, transparent
//     plugins ahead of it: the glue's hotpolicy.go) and Fills only from
//     replies those chains wrote for cache hits;
//   - numbers the families it files entries by: an entry is keyed by a
//     family number as well as the cache key, so that one table keeps
//     apart entries that must not answer for each other. The number is
//     the caller's to choose: the glue keeps one table per CoreDNS
//     listener (address:port) and files its entries by the client's
//     address family. It Clears the table (or makes a new one) when a
//     server is replaced, and drops entries whose cache items change
//     (prefetch, eviction): the table cannot see them;
//   - per query: ParseQuery, then Answer with the client's family (IPv4 and
//     IPv4-mapped IPv6 count as IPv4, as request.Family) and the largest
//     payload one frame takes; on any Reason but OK, runs the chain;
//   - takes now just before the chain ran when filling (see Fill), and
//     once per batch or per query when answering (time.Now: monotonic);
//   - calls Flush periodically to move per-entry hit counts into metrics.
//
// # Where to start
//
// query.go parses queries, table.go holds entries, fill.go makes them from
// replies, render.go writes answers, hits.go reads hit counts, export.go
// hands entries and the journal of their changes to another tier (the XDP
// program), and reason.go names why a query, an answer or a fill was
// passed over.
package hot
