package poll

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/ringverify"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

var opens = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func samplePoll() *Poll {
	return &Poll{ID: "colour-2026", Question: "Which colour for the new icon?", Options: []string{"blue", "green", "orange"},
		Plans: []string{"basic", "pro"}, Opens: opens, Closes: opens.Add(48 * time.Hour), Electorate: 1000, MinRing: 11}
}

// members is an in-memory ledger: license i has secret x_i =
// Hs("test", u64(i)) and key P_i = x_i·G.
type members map[uint64]ringverify.Member

func secret(i uint64) *ristretto255.Scalar {
	return ringverify.HashToScalar("test", binary.BigEndian.AppendUint64(nil, i))
}

func newMembers(n int, plan string, nb, na time.Time) members {
	m := members{}
	for i := range uint64(n) {
		m.add(i, plan, nb, na)
	}
	return m
}

func (m members) add(i uint64, plan string, nb, na time.Time) {
	var k [32]byte
	copy(k[:], ristretto255.NewIdentityElement().ScalarBaseMult(secret(i)).Bytes())
	m[i] = ringverify.Member{Key: k, Plan: plan, NotBefore: nb, NotAfter: na}
}

func (m members) Member(i uint64) (ringverify.Member, error) {
	v, ok := m[i]
	if !ok {
		return v, fmt.Errorf("%w: %d", ringverify.ErrUnknownMember, i)
	}
	return v, nil
}

// vote makes the ballot of license own (at position pi of ring) for option.
func vote(t testing.TB, m members, p *Poll, ring []uint64, pi, option int, seed byte) *Ballot {
	t.Helper()
	h, err := p.Hash()
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]*ristretto255.Element, len(ring))
	for i, idx := range ring {
		k := m[idx].Key
		keys[i], _ = ristretto255.NewIdentityElement().SetCanonicalBytes(k[:])
	}
	proof, err := ringverify.Sign(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)), secret(ring[pi]), keys, pi, p.Scope(), 0, Message(h, option))
	if err != nil {
		t.Fatal(err)
	}
	return NewRequest(option, ring, proof).Ballot(h, 1000)
}

func ringOf(from, n int) []uint64 {
	r := make([]uint64, n)
	for i := range r {
		r[i] = uint64(from + i)
	}
	return r
}

func TestDefinitionRoundTrip(t *testing.T) {
	p := samplePoll()
	enc, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseDefinition(enc)
	if err != nil {
		t.Fatal(err)
	}
	enc2, _ := q.MarshalBinary()
	if !bytes.Equal(enc, enc2) || q.ID != p.ID || !q.Opens.Equal(p.Opens) || q.MinRing != 11 {
		t.Fatalf("round trip changed the poll: %+v", q)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		edit func(p *Poll)
		ok   bool
	}{
		{"sample", func(p *Poll) {}, true},
		{"id empty", func(p *Poll) { p.ID = "" }, false},
		{"id upper case", func(p *Poll) { p.ID = "Poll" }, false},
		{"id leading dash", func(p *Poll) { p.ID = "-p" }, false},
		{"id slash", func(p *Poll) { p.ID = "a/b" }, false},
		{"id too long", func(p *Poll) { p.ID = strings.Repeat("a", 64) }, false},
		{"question empty", func(p *Poll) { p.Question = "" }, false},
		{"question padded", func(p *Poll) { p.Question = " why" }, false},
		{"question not utf8", func(p *Poll) { p.Question = "\xff" }, false},
		{"one option", func(p *Poll) { p.Options = p.Options[:1] }, false},
		{"duplicate option", func(p *Poll) { p.Options = []string{"a", "a"} }, false},
		{"65 options", func(p *Poll) {
			p.Options = nil
			for i := range 65 {
				p.Options = append(p.Options, fmt.Sprint(i))
			}
		}, false},
		{"no plan", func(p *Poll) { p.Plans = nil }, false},
		{"plans unsorted", func(p *Poll) { p.Plans = []string{"pro", "basic"} }, false},
		{"closes at opening", func(p *Poll) { p.Closes = p.Opens }, false},
		{"sub-second", func(p *Poll) { p.Opens = p.Opens.Add(time.Millisecond) }, false},
		{"ring 10", func(p *Poll) { p.MinRing = 10 }, false},
		{"ring 1025", func(p *Poll) { p.MinRing = 1025 }, false},
		{"no electorate", func(p *Poll) { p.Electorate = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := samplePoll()
			tt.edit(p)
			err := p.Check()
			if (err == nil) != tt.ok {
				t.Fatalf("Check = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestParseDefinitionRefuses(t *testing.T) {
	enc, _ := samplePoll().MarshalBinary()
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"wrong kind", append([]byte{KindBallot}, enc[1:]...)},
		{"truncated", enc[:len(enc)-1]},
		{"trailing", append(bytes.Clone(enc), 0)},
		{"unknown flag", func() []byte { b := bytes.Clone(enc); b[len(b)-3] = 2; return b }()},
		{"min ring 0", func() []byte { b := bytes.Clone(enc); b[len(b)-1], b[len(b)-2] = 0, 0; return b }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseDefinition(tt.b); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestCheckBallot(t *testing.T) {
	p := samplePoll()
	day := opens.Truncate(24 * time.Hour)
	m := newMembers(30, "basic", day.AddDate(0, 0, -1), day.AddDate(0, 0, 30))
	m.add(40, "basic", day.AddDate(0, 0, -30), day) // expired at the opening
	m.add(41, "basic", day.AddDate(0, 0, 1), day.AddDate(0, 0, 30))
	for i := uint64(50); i < 70; i++ {
		m.add(i, "gold", day, day.AddDate(0, 0, 30))
	}
	v, err := NewVerifier(m)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := p.Hash()
	other := samplePoll()
	other.ID = "other"
	tests := []struct {
		name   string
		ballot func() *Ballot
		code   string
	}{
		{"valid", func() *Ballot { return vote(t, m, p, ringOf(0, 16), 3, 1, 1) }, ""},
		{"valid ring 11", func() *Ballot { return vote(t, m, p, ringOf(5, 11), 10, 0, 1) }, ""},
		{"other poll", func() *Ballot { return vote(t, m, other, ringOf(0, 16), 3, 1, 1) }, "wrong_poll"},
		{"other poll's signature", func() *Ballot { b := vote(t, m, other, ringOf(0, 16), 3, 1, 1); b.PollHash = h; return b }, "signature"},
		{"wrong poll hash", func() *Ballot { b := vote(t, m, p, ringOf(0, 16), 3, 1, 1); b.PollHash[0] ^= 1; return b }, "wrong_poll"},
		{"option changed", func() *Ballot { b := vote(t, m, p, ringOf(0, 16), 3, 1, 1); b.Option = 2; return b }, "signature"},
		{"option out of range", func() *Ballot { b := vote(t, m, p, ringOf(0, 16), 3, 1, 1); b.Option = 3; return b }, "bad_option"},
		{"ring too small", func() *Ballot { return vote(t, m, p, ringOf(0, 10), 3, 1, 1) }, "ring_too_small"},
		{"expired member", func() *Ballot { return vote(t, m, p, append(ringOf(0, 15), 40), 15, 1, 1) }, "member_expired"},
		{"not yet valid", func() *Ballot { return vote(t, m, p, append(ringOf(0, 15), 41), 15, 1, 1) }, "member_not_yet_valid"},
		{"plan not eligible", func() *Ballot { return vote(t, m, p, ringOf(50, 16), 0, 1, 1) }, "plan_not_eligible"},
		{"mixed plans", func() *Ballot { return vote(t, m, p, append(ringOf(0, 15), 50), 15, 1, 1) }, "ring_mixed_plans"},
		{"unknown member", func() *Ballot { b := vote(t, m, p, ringOf(0, 16), 0, 1, 1); b.Ring[15] = 99; return b }, "member_unknown"},
		{"proof flipped", func() *Ballot { b := vote(t, m, p, ringOf(0, 16), 3, 1, 1); b.Proof[40] ^= 1; return b }, "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckBallot(v, p, h, tt.ballot())
			if got := codeOf(err); got != tt.code {
				t.Fatalf("CheckBallot = %v (code %q), want code %q", err, got, tt.code)
			}
		})
	}
	// A poll of the ledger's first 15 entries: member 15 is not a voter,
	// whatever its license.
	small := samplePoll()
	small.Electorate = 15
	hs, _ := small.Hash()
	if err := CheckBallot(v, small, hs, vote(t, m, small, ringOf(0, 16), 0, 1, 1)); codeOf(err) != "not_in_electorate" {
		t.Fatalf("a member beyond the electorate: %v", err)
	}
	if err := CheckBallot(v, small, hs, vote(t, m, small, ringOf(0, 15), 0, 1, 1)); err != nil {
		t.Fatalf("a ring within the electorate: %v", err)
	}
}

// codeOf returns the code of a poll or ringverify error.
func codeOf(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code()
	}
	return ringverify.Code(err)
}

func TestRecount(t *testing.T) {
	p := samplePoll()
	day := opens.Truncate(24 * time.Hour)
	m := newMembers(40, "pro", day, day.AddDate(0, 0, 30))
	v, _ := NewVerifier(m)
	r, err := NewRecount(p, v)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int64, 3)
	for i := range 20 {
		ring := ringOf(i, 16)
		b := vote(t, m, p, ring, 0, i%3, byte(i))
		if err := r.Add(int64(i+1), b); err != nil {
			t.Fatalf("ballot %d: %v", i, err)
		}
		want[i%3]++
	}
	// License 5 again, another ring and option: the same tag.
	b := vote(t, m, p, ringOf(5, 16), 0, 2, 99)
	if err := r.Add(21, b); !errors.Is(err, ErrAlreadyVoted) {
		t.Fatalf("second vote of one license: %v", err)
	}
	if got := r.Counts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
}

func TestBallotRoundTrip(t *testing.T) {
	p := samplePoll()
	m := newMembers(16, "basic", opens.AddDate(0, 0, -1), opens.AddDate(0, 0, 1))
	b := vote(t, m, p, ringOf(0, 16), 7, 2, 3)
	enc, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseBallot(enc)
	if err != nil {
		t.Fatal(err)
	}
	enc2, _ := c.MarshalBinary()
	if !bytes.Equal(enc, enc2) {
		t.Fatal("round trip changed the ballot")
	}
	for _, n := range []int{0, 1, len(enc) - 1} {
		if _, err := ParseBallot(enc[:n]); err == nil {
			t.Fatalf("accepted a ballot cut at %d", n)
		}
	}
	if _, err := ParseBallot(append(bytes.Clone(enc), 0)); err == nil {
		t.Fatal("accepted trailing bytes")
	}
}

func TestDecodeRequest(t *testing.T) {
	p := samplePoll()
	m := newMembers(16, "basic", opens.AddDate(0, 0, -1), opens.AddDate(0, 0, 1))
	b := vote(t, m, p, ringOf(0, 16), 7, 2, 3)
	good, _ := json.Marshal(&Request{Option: 2, Ring: b.Ring, Tag: b.Proof[:32], Signature: b.Proof[32:]})
	tests := []struct {
		name string
		body string
		code string
	}{
		{"good", string(good), ""},
		{"not an object", `[]`, "malformed"},
		{"unknown field", strings.Replace(string(good), `"option"`, `"scope":"x","option"`, 1), "malformed"},
		{"trailing", string(good) + "{}", "malformed"},
		{"negative option", strings.Replace(string(good), `"option":2`, `"option":-1`, 1), "bad_option"},
		{"short tag", strings.Replace(string(good), `"tag":"`, `"tag":"AAAA","x":"`, 1), "malformed"},
		{"no ring", `{"option":0,"ring":[],"tag":"","signature":""}`, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tt.body))
			if got := codeOf(err); got != tt.code {
				t.Fatalf("DecodeRequest = %v, want code %q", err, tt.code)
			}
		})
	}
}

func TestCheckpoint(t *testing.T) {
	skey, vkey, err := note.GenerateKey(nil, "ledger.example")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	var tree Tree
	enc, _ := samplePoll().MarshalBinary()
	tree.Add(enc)
	for i := range 5 {
		tree.Add([]byte{KindBallot, byte(i)})
	}
	root, _ := tree.Root(6)
	c := Checkpoint{Origin: Origin(s.Name(), "colour-2026"), Size: 6, Root: root}
	msg, err := SignCheckpoint(c, s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenCheckpoint(msg, v, "colour-2026")
	if err != nil || got != c {
		t.Fatalf("OpenCheckpoint = %v, %v", got, err)
	}
	if _, err := OpenCheckpoint(msg, v, "other"); err == nil {
		t.Fatal("a checkpoint of another poll was accepted")
	}
	for i := int64(0); i < 6; i++ {
		pr, err := tree.Prove(i, 6)
		if err != nil {
			t.Fatal(err)
		}
		leaf := enc
		if i > 0 {
			leaf = []byte{KindBallot, byte(i - 1)}
		}
		if err := CheckInclusion(c, i, leaf, pr); err != nil {
			t.Fatal(err)
		}
		if err := CheckInclusion(c, i, []byte{KindBallot, 9}, pr); err == nil {
			t.Fatal("a forged leaf was included")
		}
	}
	t2, err := TreeFromHashes(6, tree.hashes)
	if err != nil {
		t.Fatal(err)
	}
	if r2, _ := t2.Root(6); r2 != root {
		t.Fatal("TreeFromHashes has another root")
	}
}

// vectorFile is testdata/vectors.json: a poll, its hash, ballots and the
// log's root, so another implementation can check every byte.
type vectorFile struct {
	Comment    string   `json:"comment"`
	Definition string   `json:"definition"`
	PollHash   string   `json:"poll_hash"`
	Messages   []string `json:"messages"` // Message(poll_hash, option) for each option
	Ballots    []string `json:"ballots"`  // leaves 1…
	Root       string   `json:"root"`     // tree hash of leaf 0 and the ballots
}

func TestVectors(t *testing.T) {
	p := samplePoll()
	day := opens.Truncate(24 * time.Hour)
	m := newMembers(16, "basic", day, day.AddDate(0, 0, 30))
	enc, _ := p.MarshalBinary()
	h := HashDefinition(enc)
	vf := vectorFile{
		Comment:    "made by TestVectors (go test -run TestVectors -update). License i has secret Hs(\"test\", u64(i)); ballots signed with ringverify.Sign, rand = 32 bytes of the seed byte; ledger_size 1000.",
		Definition: hex.EncodeToString(enc), PollHash: hex.EncodeToString(h[:]),
	}
	for i := range p.Options {
		vf.Messages = append(vf.Messages, hex.EncodeToString(Message(h, i)))
	}
	var tree Tree
	tree.Add(enc)
	for i := range 3 {
		b := vote(t, m, p, ringOf(0, 11+i), i, i, byte(i+1))
		leaf, _ := b.MarshalBinary()
		vf.Ballots = append(vf.Ballots, hex.EncodeToString(leaf))
		tree.Add(leaf)
	}
	root, _ := tree.Root(tree.Size())
	vf.Root = hex.EncodeToString(root[:])
	js, _ := json.MarshalIndent(vf, "", "  ")
	js = append(js, '\n')
	if *update {
		if err := os.WriteFile("testdata/vectors.json", js, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(js, want) {
		t.Fatal("the vectors differ from testdata/vectors.json (run with -update only if the format changed on purpose)")
	}
	// The stored vectors check on their own: each ballot parses and verifies.
	v, _ := NewVerifier(m)
	r, _ := NewRecount(p, v)
	for i, s := range vf.Ballots {
		leaf, _ := hex.DecodeString(s)
		b, err := ParseBallot(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Add(int64(i+1), b); err != nil {
			t.Fatalf("vector ballot %d: %v", i, err)
		}
	}
}

func FuzzParseDefinition(f *testing.F) {
	enc, _ := samplePoll().MarshalBinary()
	f.Add(enc)
	f.Add([]byte{KindPoll})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseDefinition(b)
		if err != nil {
			return
		}
		enc, err := p.MarshalBinary()
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("accepted a non-canonical definition: %x", b)
		}
	})
}

func FuzzParseBallot(f *testing.F) {
	m := newMembers(11, "basic", opens.AddDate(0, 0, -1), opens.AddDate(0, 0, 1))
	b := vote(f, m, samplePoll(), ringOf(0, 11), 1, 1, 1)
	enc, _ := b.MarshalBinary()
	f.Add(enc)
	f.Add([]byte{KindBallot})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBallot(data)
		if err != nil {
			return
		}
		enc, err := b.MarshalBinary()
		if err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("accepted a non-canonical ballot: %x", data)
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"option":1,"ring":[1,2],"tag":"AAAA","signature":"AAAA"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		if len(r.Tag)+len(r.Signature) != ringverify.ProofSize(len(r.Ring)) {
			t.Fatalf("accepted a request of the wrong proof size")
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("a/poll/b\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCheckpoint(data)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(data, c.Text()) {
			t.Fatalf("accepted a non-canonical checkpoint: %q", data)
		}
	})
}
