// Command splice replaces the part of README.md between the markers
// "<!-- results:begin -->" and "<!-- results:end -->" with results.md, so
// refreshing the README after `make bench` is one step and leaves the
// hand-written sections around it untouched.
//
// usage: go run ./splice [-readme README.md] [-results results/results.md]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
)

const (
	begin = "<!-- results:begin -->\n"
	end   = "<!-- results:end -->"
)

// splice returns readme with the text between the markers replaced by body.
func splice(readme, body []byte) ([]byte, error) {
	i := bytes.Index(readme, []byte(begin))
	if i < 0 {
		return nil, errors.New("begin marker not found")
	}
	start := i + len(begin)
	j := bytes.Index(readme[start:], []byte(end))
	if j < 0 {
		return nil, errors.New("end marker not found after the begin marker")
	}
	body = bytes.TrimRight(body, "\n")
	var out bytes.Buffer
	out.Write(readme[:start])
	out.WriteString("\n")
	out.Write(body)
	out.WriteString("\n\n")
	out.Write(readme[start+j:])
	return out.Bytes(), nil
}

func main() {
	readme := flag.String("readme", "README.md", "file to splice into")
	res := flag.String("results", "results/results.md", "results to splice in")
	flag.Parse()
	if err := spliceFile(*readme, *res); err != nil {
		fmt.Fprintf(os.Stderr, "splice: %v\n", err)
		os.Exit(1)
	}
}

func spliceFile(readme, results string) error {
	r, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(results)
	if err != nil {
		return err
	}
	out, err := splice(r, b)
	if err != nil {
		return err
	}
	return os.WriteFile(readme, out, 0o644)
}
