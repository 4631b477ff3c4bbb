package ledger

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the height of every tile (C2SP tlog-tiles fixes it at 8: a
// full tile holds 256 hashes or 256 entries).
const TileHeight = 8

// TileWidth is the number of hashes or entries in a full tile.
const TileWidth = 1 << TileHeight

// EntriesLevel is the Level of a Tile that holds an entry bundle rather than
// hashes ("tile/entries/..." in C2SP paths; x/mod's tlog calls it level -1).
const EntriesLevel = -1

// A Tile names a C2SP tile: Level ≥ 0 holds hashes of tree level 8·Level,
// EntriesLevel holds entries; N is its number within the level; Width (1 to
// 256) is how many hashes or entries it holds, 256 for a full tile.
type Tile struct {
	Level int
	N     int64
	Width int
}

// tlogTile converts t to x/mod's representation.
func (t Tile) tlogTile() tlog.Tile {
	return tlog.Tile{H: TileHeight, L: t.Level, N: t.N, W: t.Width}
}

func fromTlog(t tlog.Tile) Tile { return Tile{Level: t.L, N: t.N, Width: t.W} }

// Path returns the C2SP tlog-tiles path of t, relative to the log's prefix:
// "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]", where N is written in
// zero-padded groups of three digits, all but the last prefixed with "x"
// (tile/1/x001/x234/067.p/8 is level 1, N 1234067, width 8).
func (t Tile) Path() string {
	var b strings.Builder
	b.WriteString("tile/")
	if t.Level == EntriesLevel {
		b.WriteString("entries")
	} else {
		b.WriteString(strconv.Itoa(t.Level))
	}
	b.WriteByte('/')
	b.WriteString(encodeTileIndex(t.N))
	if t.Width != TileWidth {
		b.WriteString(".p/")
		b.WriteString(strconv.Itoa(t.Width))
	}
	return b.String()
}

func encodeTileIndex(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// tilePathError is a malformed tile path; its code is "bad_tile_path".
type tilePathError struct{ path string }

func (e *tilePathError) Error() string {
	return fmt.Sprintf("ledger: %q is not a C2SP tile path (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])", e.path)
}
func (e *tilePathError) Code() string { return "bad_tile_path" }

// ParseTilePath parses a C2SP tile path (as Tile.Path writes it, relative
// to the log's prefix). It accepts only the canonical form: Path(ParseTilePath(p)) == p.
func ParseTilePath(path string) (Tile, error) {
	bad := &tilePathError{path}
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok {
		return Tile{}, bad
	}
	lv, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return Tile{}, bad
	}
	var t Tile
	if lv == "entries" {
		t.Level = EntriesLevel
	} else {
		l, ok := canonicalUint(lv, 2)
		if !ok || l > 63 {
			return Tile{}, bad
		}
		t.Level = int(l)
	}
	t.Width = TileWidth
	if i := strings.Index(rest, ".p/"); i >= 0 {
		w, ok := canonicalUint(rest[i+3:], 3)
		if !ok || w < 1 || w >= TileWidth {
			return Tile{}, bad
		}
		t.Width = int(w)
		rest = rest[:i]
	}
	groups := strings.Split(rest, "/")
	if len(groups) > 7 { // 21 digits exceed int64 anyway; keeps the loop short
		return Tile{}, bad
	}
	var n int64
	for i, g := range groups {
		last := i == len(groups)-1
		if !last {
			if len(g) != 4 || g[0] != 'x' {
				return Tile{}, bad
			}
			g = g[1:]
		}
		if len(g) != 3 {
			return Tile{}, bad
		}
		d := 0
		for _, c := range []byte(g) {
			if c < '0' || c > '9' {
				return Tile{}, bad
			}
			d = d*10 + int(c-'0')
		}
		if i == 0 && !last && d == 0 { // x000/... is not canonical
			return Tile{}, bad
		}
		if n > (1<<62)/1000 {
			return Tile{}, bad
		}
		n = n*1000 + int64(d)
	}
	// No tile beyond what an int64 entry index can reach: a bundle's first
	// entry is N·TileWidth, which must not overflow (a wrapped product would
	// serve another bundle under a bogus, immutably cached path).
	if n > math.MaxInt64/TileWidth-1 {
		return Tile{}, bad
	}
	t.N = n
	return t, nil
}

// canonicalUint parses a decimal of at most maxDigits digits without leading
// zeros.
func canonicalUint(s string, maxDigits int) (int64, bool) {
	if len(s) == 0 || len(s) > maxDigits || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var v int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// AppendBundleEntry appends one entry to a C2SP entry bundle: its length as
// a big-endian uint16, then the entry.
func AppendBundleEntry(bundle, entry []byte) []byte {
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entry)))
	return append(bundle, entry...)
}

// ParseBundle splits a C2SP entry bundle into its entries. It checks only the
// framing; each entry is still to be parsed (ParseEntry) and hashed. The
// entries alias b.
func ParseBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("ledger: entry bundle ends inside a length prefix")
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if len(b) < n {
			return nil, fmt.Errorf("ledger: entry bundle ends inside an entry")
		}
		out = append(out, b[:n:n])
		b = b[n:]
		if len(out) > TileWidth {
			return nil, fmt.Errorf("ledger: entry bundle holds more than %d entries", TileWidth)
		}
	}
	return out, nil
}
