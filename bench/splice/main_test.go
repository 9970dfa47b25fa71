package main

import "testing"

func TestSpliceKeepsSurroundings(t *testing.T) {
	in := "# A\n<!-- results:begin -->\nold\nlines\n<!-- results:end -->\n## B\n"
	out, err := splice([]byte(in), []byte("new\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "# A\n<!-- results:begin -->\n\nnew\n\n<!-- results:end -->\n## B\n"
	if string(out) != want {
		t.Fatalf("got %q want %q", out, want)
	}
	again, _ := splice(out, []byte("new\n"))
	if string(again) != want {
		t.Fatalf("not idempotent: %q", again)
	}
}

func TestSpliceNeedsMarkers(t *testing.T) {
	if _, err := splice([]byte("no markers"), []byte("x")); err == nil {
		t.Fatal("want error without markers")
	}
	if _, err := splice([]byte("<!-- results:begin -->\nx"), []byte("x")); err == nil {
		t.Fatal("want error without end marker")
	}
}
