package web

import (
	"fmt"
	"testing"
)

// TestParseFeedTile: only canonical tile paths parse.
func TestParseFeedTile(t *testing.T) {
	for p, want := range map[string]string{
		"0": "0 256", "7": "7 256", "3.p/1": "3 1", "3.p/255": "3 255",
		"": "bad", "00": "bad", "-1": "bad", "3.p/0": "bad", "3.p/256": "bad", "3.p/01": "bad",
		"x001": "bad", "1/2": "bad", "3.p/": "bad", "99999999999999": "99999999999999 256", "99999999999999999999": "bad",
	} {
		n, w, ok := parseFeedTile(p)
		got := "bad"
		if ok {
			got = fmt.Sprint(n, " ", w)
		}
		if got != want {
			t.Errorf("%q: %s, want %s", p, got, want)
		}
	}
}

// FuzzParseFeedTile: a path that parses is the canonical one of what it
// parsed to.
func FuzzParseFeedTile(f *testing.F) {
	f.Add("12.p/3")
	f.Fuzz(func(t *testing.T, p string) {
		n, w, ok := parseFeedTile(p)
		if !ok {
			return
		}
		canon := fmt.Sprint(n)
		if w != 256 {
			canon += fmt.Sprint(".p/", w)
		}
		if canon != p || w < 1 || w > 256 {
			t.Fatalf("%q parsed to %d, %d", p, n, w)
		}
	})
}
