// Package hot answers repeated CoreDNS cache hits without running the plugin
// chain. An entry is filled from a reply the chain wrote for a cache hit;
// later queries with the same cache key get the bytes the chain would write
// for them: the client's ID, flags and question spelling, the stored records
// with their TTLs aged, and the client's own OPT as the ScrubWriter echoes
// it. Anything this package cannot copy exactly is passed to the chain, with
// a Reason for the hot_passed_total{reason} metric.
//
// It knows DNS wire format only, not CoreDNS nor the datapath. The caller:
//
//   - decides which chains may be mirrored (cache present, transparent
//     plugins ahead of it; see shared/research/hot-answer-semantics.md) and
//     Fills only from replies those chains wrote for cache hits;
//   - picks listener ids so one never stands for two servers, or Clears the
//     table when a server is replaced, and drops entries whose cache items
//     change (prefetch, eviction): the table cannot see them;
//   - per query: ParseQuery, then Answer with the client's family (IPv4 and
//     IPv4-mapped IPv6 count as IPv4, as request.Family) and the largest
//     payload one frame takes; on any Reason but OK, runs the chain;
//   - takes now just before the chain ran when filling (see Fill), and
//     once per batch or per query when answering (time.Now: monotonic);
//   - calls Flush periodically to move per-entry hit counts into metrics.
//
// Files: query.go parses queries, table.go holds entries, fill.go makes
// them from replies, render.go writes answers, hits.go reads hit counts.
package hot
