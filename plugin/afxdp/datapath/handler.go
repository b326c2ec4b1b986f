package datapath

import (
	"errors"
	"sync/atomic"

	"github.com/afxdp/afxdp/plugin/afxdp/frame"
)

// Handler answers queries. ServeFrame runs on one of the queue's worker
// goroutines and may block (a cache miss waits for its upstream) without
// holding up other queries. It answers with r.Reply, or not at all.
type Handler interface {
	ServeFrame(r *Request)
}

// InlineHandler is a Handler that answers some queries in the receive loop
// itself, before they take a slot or a worker: answers that cost less than
// queueing them (hot answers), which so never wait behind misses.
// AnswerInline writes the reply's payload into out and returns its length,
// or 0 to leave the query to ServeFrame. It runs on the receive loop: it
// must not block, and should not allocate.
type InlineHandler interface {
	Handler
	AnswerInline(h *frame.Header, query, out []byte) int
	// AnswersInline says whether AnswerInline may answer anything now. While
	// it does, a queue whose slots are all taken keeps answering inline and
	// sheds what needs a slot, rather than hand itself to the kernel.
	AnswersInline() bool
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(r *Request)

// ServeFrame calls f(r).
func (f HandlerFunc) ServeFrame(r *Request) { f(r) }

// Sender transmits replies. A queue's TX ring is one; a path that follows
// the kernel's routing, or a test, can be another.
type Sender interface {
	// Send transmits payload to the addressing in h.
	Send(h *frame.Header, payload []byte) error
	// MaxPayload is the largest payload Send takes for h.
	MaxPayload(h *frame.Header) int
}

// Request is one received query. It and its Payload belong to the datapath
// again once ServeFrame returns: neither may be kept.
type Request struct {
	Header  frame.Header // addressing of the query as received
	Payload []byte       // the DNS message, copied out of the RX frame

	q       *queue // nil for a request made by NewRequest
	snd     Sender
	started atomic.Int64 // when a worker took it up (unix ns); 0 while queued or free
	buf     []byte
	reply   frame.Header // built by Reply; a field, so passing it to Send allocates nothing
}

// NewRequest makes a request that answers through s, outside any queue.
func NewRequest(h frame.Header, payload []byte, s Sender) *Request {
	return &Request{Header: h, Payload: payload, snd: s}
}

// Errors of Reply; each is also counted as a drop.
var (
	ErrTooLarge = errors.New("reply does not fit in one frame")
	ErrNoFrame  = errors.New("no free TX frame")
	ErrRingFull = errors.New("TX ring full")
	ErrClosed   = errors.New("datapath closed")
)

// Queue is the RX queue the query arrived on, -1 if none.
func (r *Request) Queue() int {
	if r.q == nil {
		return -1
	}
	return r.q.id
}

// MaxReply is the largest reply payload that goes out in one frame.
func (r *Request) MaxReply() int { return r.snd.MaxPayload(&r.Header) }

// Reply sends payload to the query's source, from the address and port it
// was sent to. Through a queue, the frame goes out when the worker finishes
// the batch it is in, or at once if it was the last.
func (r *Request) Reply(payload []byte) error {
	r.reply = r.Header.Reply()
	return r.snd.Send(&r.reply, payload)
}
