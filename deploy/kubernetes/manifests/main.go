// Command manifests makes deploy/kubernetes's generated manifests and writes
// the bases for a given image tarball.
//
//	go run ./deploy/kubernetes/manifests generate [-dir deploy/kubernetes]
//
// writes monitoring/'s PrometheusRule and dashboard ConfigMap from
// deploy/prometheus's alerting rules and deploy/grafana's dashboard (`go
// generate ./deploy/kubernetes` runs it; a test holds the committed files to
// what it makes);
//
//	go run ./deploy/kubernetes/manifests write -image-tar FILE -o DIR [-dir deploy/kubernetes]
//
// writes the bases (cluster-dns, node-local, monitoring) to DIR/<base>/
// with every image reference the pinned name of the tarball's image
// (build/image: localhost/afxdp/coredns:dev-<12 hex digits of the image
// ID>). `make k8s` runs it after `make image`.
package main

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/afxdp/afxdp/deploy/kubernetes"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: manifests generate|write [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", ".", "deploy/kubernetes")
	var err error
	switch os.Args[1] {
	case "generate":
		fs.Parse(os.Args[2:])
		err = generate(*dir)
	case "write":
		tarball := fs.String("image-tar", ".cache/image/coredns-afxdp.tar", "the image tarball (make image)")
		out := fs.String("o", ".cache/k8s", "the directory to write the bases to")
		fs.Parse(os.Args[2:])
		err = write(*dir, *tarball, *out)
	default:
		err = fmt.Errorf("unknown command %q: generate or write", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		os.Exit(1)
	}
}

func generate(dir string) error {
	files, err := kubernetes.Generate(dir)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

func write(dir, tarball, out string) error {
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	image, err := kubernetes.PinnedImage(f)
	if err != nil {
		return fmt.Errorf("%s: %w", tarball, err)
	}
	if err := kubernetes.Write(dir, out, image); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %v with image %s\n", out, kubernetes.Bases, image)
	return nil
}
