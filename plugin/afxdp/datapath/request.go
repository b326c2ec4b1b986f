package datapath

import (
	"errors"

	"github.com/afxdp/afxdp/plugin/afxdp/frame"
)

// Handler answers queries. ServeFrame runs on one of the queue's worker
// goroutines and may block (a cache miss waits for its upstream) without
// holding up other queries. It answers with r.Reply, or not at all.
type Handler interface {
	ServeFrame(r *Request)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(r *Request)

// ServeFrame calls f(r).
func (f HandlerFunc) ServeFrame(r *Request) { f(r) }

// Request is one received query. It and its Payload belong to the datapath
// again once ServeFrame returns: neither may be kept.
type Request struct {
	Header  frame.Header // addressing of the query as received
	Payload []byte       // the DNS message, copied out of the RX frame

	q   *queue
	buf []byte
}

// Errors of Reply; each is also counted as a drop.
var (
	ErrTooLarge = errors.New("reply does not fit in one frame")
	ErrNoFrame  = errors.New("no free TX frame")
	ErrRingFull = errors.New("TX ring full")
	ErrClosed   = errors.New("datapath closed")
)

// Queue is the RX queue the query arrived on.
func (r *Request) Queue() int { return r.q.id }

// Interface is the name of the interface the query arrived on.
func (r *Request) Interface() string { return r.q.iface.name }

// MaxReply is the largest reply payload that goes out in one frame: bounded
// by the UMEM frame and by the interface MTU (the datapath never fragments).
func (r *Request) MaxReply() int {
	hl := r.Header.Len() // the reply's headers: Len counts no IPv4 options
	l2 := 14
	if r.Header.VLANProto != 0 {
		l2 = 18
	}
	return min(r.q.sock.FrameSize()-hl, r.q.iface.mtu-(hl-l2))
}

// Reply sends payload to the query's source, from the address and port it
// was sent to, through the queue's TX ring. The frame goes out when the
// worker finishes the batch it is in, or at once if it was the last.
func (r *Request) Reply(payload []byte) error {
	if len(payload) > r.MaxReply() {
		r.q.stats.drops[DropTooLarge].Add(1)
		return ErrTooLarge
	}
	h := r.Header.Reply()
	return r.q.send(&h, payload)
}
