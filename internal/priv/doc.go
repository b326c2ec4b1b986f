// Package priv lets tests that need root (namespaces, XDP, AF_XDP) say so:
// Require skips such a test when the process is not root, or fails it when
// CIEnv is set, so that a privileged test that did not run is never
// mistaken for one that passed. Tool does the same for a command a test
// runs (one of the Makefile's TOOLS, which `make deps` installs).
//
// For tests only: no package's own code may import it (only tests do), and
// it knows nothing of the packages it is used to test.
package priv
