package readme

import (
	"fmt"
	"os"
	"regexp"
	"slices"
)

var capRow = regexp.MustCompile("(?m)^\\| `(CAP_[A-Z_]+)` \\|")

// Caps is the capability table of the README at path: its CAP_ names,
// sorted.
func Caps(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var caps []string
	for _, m := range capRow.FindAllStringSubmatch(string(b), -1) {
		caps = append(caps, m[1])
	}
	if len(caps) == 0 {
		return nil, fmt.Errorf("%s: no capability table (rows \"| `CAP_...` | why |\")", path)
	}
	slices.Sort(caps)
	return caps, nil
}
