package hot

// Reason says why a query, an answer or a fill was passed over. OK (zero)
// means it was not. The strings are metric label values
// (hot_passed_total{reason}, hot_fill_skipped_total{reason}): fixed, few,
// and never built per query.
type Reason uint8

// Reasons of ParseQuery: the query is not one a cache hit answers in a way
// this package can copy byte for byte.
const (
	OK          Reason = iota
	Malformed          // header or question cut short, reserved label type, a truncated OPT
	NotQuery           // QR set
	Opcode             // opcode other than QUERY: the cache does not handle it
	Counts             // QDCOUNT≠1, ANCOUNT/NSCOUNT≠0 or ARCOUNT>1
	Compressed         // a pointer in the question name
	NameTooLong        // over 255 octets on the wire: miekg/dns refuses it
	Class              // not IN: the server REFUSES it unless CHAOS is enabled
	QType              // ANY, DS, AXFR, IXFR, RRSIG, OPT, TSIG, TKEY, MAILA, MAILB
	NotOPT             // the one additional record is not an OPT
	TSIG               // signed query
	OPTOwner           // OPT owner name is not the root
	OPTVersion         // EDNS version ≠ 0: the server answers BADVERS itself
	OPTOptions         // OPT carries options (cookie, ECS, ...): they may be echoed or acted on
	Trailing           // bytes after the last record

	// Reasons of Answer.
	NotParsed // the Query did not come from a successful ParseQuery
	Miss      // no entry for the key
	Expired   // the remaining TTL is ≤ 1: the chain may already see 0 and miss
	ADUnknown // the query wants AD, the entry was filled by a query that hid it
	TooBig    // the chain would compress or truncate, or dst/maxLen is too small

	// Reasons of Fill: the reply is not one this package can replay.
	ReplyShape    // not a response to this query as a cache hit writes it (header bits, ID, OPT, question)
	ReplyTC       // truncated
	ReplyRcode    // rcode other than NOERROR, NXDOMAIN, SERVFAIL
	NoRecords     // no record carries the remaining TTL
	MixedTTL      // records with different TTLs: not a cache item
	LowTTL        // TTL < 2: would expire before it could be served
	ReplyMismatch // rendering the entry does not give back the reply's own bytes

	numReasons
)

var reasonNames = [numReasons]string{
	OK:            "ok",
	Malformed:     "malformed",
	NotQuery:      "not_query",
	Opcode:        "opcode",
	Counts:        "counts",
	Compressed:    "compressed",
	NameTooLong:   "name_too_long",
	Class:         "class",
	QType:         "qtype",
	NotOPT:        "not_opt",
	TSIG:          "tsig",
	OPTOwner:      "opt_owner",
	OPTVersion:    "opt_version",
	OPTOptions:    "opt_options",
	Trailing:      "trailing",
	NotParsed:     "not_parsed",
	Miss:          "miss",
	Expired:       "expired",
	ADUnknown:     "ad_unknown",
	TooBig:        "too_big",
	ReplyShape:    "reply_shape",
	ReplyTC:       "reply_tc",
	ReplyRcode:    "reply_rcode",
	NoRecords:     "no_records",
	MixedTTL:      "mixed_ttl",
	LowTTL:        "low_ttl",
	ReplyMismatch: "reply_mismatch",
}

// String is the metric label value.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons lists every Reason but OK, so metrics can be created up front.
func Reasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := OK + 1; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}
