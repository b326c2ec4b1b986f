// Package readme reads what tests hold other files to from the top
// README: the capability table of its quick start. It knows nothing of the
// plugin; only tests import it.
package readme
