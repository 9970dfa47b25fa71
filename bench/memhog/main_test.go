package main

import (
	"bytes"
	"compress/gzip"
	"testing"
)

// The archive figures need memory that compresses like a real heap: far
// better than random, far worse than zeros.
func TestFillTextCompressesRealistically(t *testing.T) {
	b := make([]byte, 4<<20)
	fillText(b)
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ratio := float64(len(b)) / float64(z.Len())
	if ratio < 2 || ratio > 30 {
		t.Fatalf("compression ratio %.1f, want 2..30", ratio)
	}
	if bytes.Equal(b[:4096], b[4096:8192]) {
		t.Fatal("two pages are identical")
	}
	t.Logf("ratio %.1f", ratio)
}
