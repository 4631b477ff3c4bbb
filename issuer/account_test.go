package issuer

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
)

func TestSeedPhraseBIP39Vectors(t *testing.T) {
	data, err := os.ReadFile("testdata/bip39_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct{ Entropy, Phrase string }
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) < 8 {
		t.Fatalf("only %d vectors", len(file.Vectors))
	}
	for _, v := range file.Vectors {
		t.Run(v.Entropy[:8], func(t *testing.T) {
			var seed [SeedSize]byte
			hex.Decode(seed[:], []byte(v.Entropy))
			if got := EncodeSeedPhrase(seed); got != v.Phrase {
				t.Errorf("EncodeSeedPhrase = %q, want %q", got, v.Phrase)
			}
			got, err := DecodeSeedPhrase(v.Phrase)
			if err != nil || got != seed {
				t.Errorf("DecodeSeedPhrase = %x, %v", got, err)
			}
		})
	}
}

func TestSeedPhraseErrors(t *testing.T) {
	acct := mustAccount(t, "alice")
	phrase := acct.SeedPhrase()
	words := strings.Fields(phrase)
	swapped := append([]string(nil), words...)
	for i := 0; ; i++ {
		if swapped[i] != swapped[i+1] {
			swapped[i], swapped[i+1] = swapped[i+1], swapped[i]
			break
		}
	}
	tests := []struct {
		name, phrase, want string
	}{
		{"empty", "", "0 words"},
		{"23 words", strings.Join(words[:23], " "), "23 words"},
		{"25 words", phrase + " abandon", "25 words"},
		{"unknown word", strings.Join(append([]string{"licence"}, words[1:]...), " "), `word 1, "licence"`},
		{"two words swapped", strings.Join(swapped, " "), "checksum"},
		{"last word changed", strings.Join(words[:23], " ") + " " + otherWord(words[23]), "checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeSeedPhrase(tt.phrase)
			if !errors.Is(err, ErrSeedPhrase) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("DecodeSeedPhrase: %v, want an ErrSeedPhrase about %q", err, tt.want)
			}
			if _, err := NewAccountFromSeedPhrase(tt.phrase); !errors.Is(err, ErrSeedPhrase) {
				t.Errorf("NewAccountFromSeedPhrase: %v", err)
			}
		})
	}
	// Case and white space do not matter.
	sloppy := "  " + strings.ToUpper(strings.Join(words, " \t\n ")) + "\n"
	back, err := NewAccountFromSeedPhrase(sloppy)
	if err != nil || !back.Equal(acct) {
		t.Fatalf("sloppy phrase: %v", err)
	}
}

// otherWord returns a word of the list whose index differs from w's in the
// checksum bits only (the last word carries 3 seed bits and 8 checksum bits),
// so that only the checksum can catch it.
func otherWord(w string) string {
	return wordList[wordIndex[w]^0x01]
}

// TestAccountDerivation checks the derivation of the keys from the seed
// against a direct computation with the primitives.
func TestAccountDerivation(t *testing.T) {
	seed := bytes.Repeat([]byte{0x5a}, SeedSize)
	acct, err := NewAccountFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	h := sha512Sum([]byte("lic/v1/spendkey"), seed)
	b, _ := ristretto255.NewScalar().SetUniformBytes(h[:])
	if acct.SpendKey().Equal(b) != 1 {
		t.Error("spend key is not HashToScalar(lic/v1/spendkey, seed)")
	}
	if ristretto255.NewIdentityElement().ScalarBaseMult(b).Equal(acct.Address().Spend) != 1 {
		t.Error("B != b·G")
	}
	v := sha512Sum([]byte("lic/v1/viewkey"), seed)
	if !bytes.Equal(acct.ViewKey().Bytes(), v[:32]) {
		t.Error("view key is not SHA-512(lic/v1/viewkey ‖ seed)[:32]")
	}
	if got := acct.Seed(); !bytes.Equal(got[:], seed) {
		t.Error("Seed() differs")
	}
	// SpendKey and Address return copies.
	acct.SpendKey().Zero()
	acct.Address().Spend.Set(ristretto255.NewIdentityElement())
	if acct.SpendKey().Equal(b) != 1 || acct.Address().Spend.Equal(ristretto255.NewIdentityElement()) == 1 {
		t.Error("SpendKey or Address exposed internal state")
	}
	if _, err := NewAccountFromSeed(seed[:31]); !errors.Is(err, ErrInvalidAccount) {
		t.Errorf("31-byte seed: %v", err)
	}
	if _, err := NewAccount(bytes.NewReader(seed[:10])); err == nil {
		t.Error("NewAccount with a short random source succeeded")
	}
}

func TestAccountMarshal(t *testing.T) {
	acct := mustAccount(t, "alice")
	enc, err := acct.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	seed := acct.Seed()
	if len(enc) != AccountEncodingSize || enc[0] != 1 || !bytes.Equal(enc[1:], seed[:]) {
		t.Fatalf("MarshalBinary = %x", enc)
	}
	back, err := UnmarshalAccount(enc)
	if err != nil || !back.Equal(acct) || !back.Address().Equal(acct.Address()) {
		t.Fatalf("UnmarshalAccount: %v", err)
	}
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"short":     enc[:32],
		"long":      append(append([]byte(nil), enc...), 0),
		"version 2": append([]byte{2}, enc[1:]...),
		"version 0": append([]byte{0}, enc[1:]...),
	} {
		if _, err := UnmarshalAccount(bad); !errors.Is(err, ErrInvalidAccount) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPayloadEncoding(t *testing.T) {
	p := testPayload("pro-monthly")
	enc, err := EncodePayload(&p)
	if err != nil {
		t.Fatal(err)
	}
	// 1795305600 = 2026-11-22T00:00Z, 1797897600 = 2026-12-22T00:00Z.
	want := "01" + "0b" + hex.EncodeToString([]byte("pro-monthly")) +
		"000000006b023080" + "000000006b29bd80" + "00000064" + "0102030405060708090a0b0c0d0e0f10"
	if hex.EncodeToString(enc) != want {
		t.Fatalf("EncodePayload = %x\nwant             %s", enc, want)
	}
	back, err := DecodePayload(enc)
	if err != nil {
		t.Fatal(err)
	}
	if *back != p || back.NotBefore.Location() != time.UTC {
		t.Fatalf("round trip: %+v", back)
	}

	day := 24 * time.Hour
	bad := []struct {
		name   string
		modify func(*Payload)
	}{
		{"empty plan", func(p *Payload) { p.Plan = "" }},
		{"plan of 65 bytes", func(p *Payload) { p.Plan = strings.Repeat("a", 65) }},
		{"plan with a space", func(p *Payload) { p.Plan = "pro monthly" }},
		{"plan with UTF-8", func(p *Payload) { p.Plan = "pró" }},
		{"not_before not midnight", func(p *Payload) { p.NotBefore = p.NotBefore.Add(time.Hour) }},
		{"not_after with nanoseconds", func(p *Payload) { p.NotAfter = p.NotAfter.Add(1) }},
		{"not_after = not_before", func(p *Payload) { p.NotAfter = p.NotBefore }},
		{"not_after before not_before", func(p *Payload) { p.NotAfter = p.NotBefore.Add(-day) }},
		{"before 1970", func(p *Payload) { p.NotBefore = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }},
		{"year 10000", func(p *Payload) { p.NotAfter = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"zero quota", func(p *Payload) { p.DailyQuota = 0 }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			q := testPayload("pro-monthly")
			tt.modify(&q)
			if _, err := EncodePayload(&q); !errors.Is(err, ErrInvalidPayload) {
				t.Errorf("EncodePayload: %v", err)
			}
		})
	}
	// Midnight in another zone is fine if it is midnight UTC too.
	q := testPayload("a")
	q.NotBefore = q.NotBefore.In(time.FixedZone("x", 3600))
	if _, err := EncodePayload(&q); err != nil {
		t.Errorf("same instant in another zone: %v", err)
	}
	q.NotBefore = time.Date(2026, 11, 22, 0, 0, 0, 0, time.FixedZone("x", 3600))
	if _, err := EncodePayload(&q); err == nil {
		t.Error("midnight in UTC+1 accepted")
	}
	// The largest allowed times and plan.
	q = testPayload(strings.Repeat("~", 64))
	q.NotAfter = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	q.DailyQuota = 1<<32 - 1
	if enc, err := EncodePayload(&q); err != nil {
		t.Errorf("extreme payload: %v", err)
	} else if back, err := DecodePayload(enc); err != nil || *back != q {
		t.Errorf("extreme payload round trip: %v", err)
	}
}

func TestDecodePayloadNonCanonical(t *testing.T) {
	p := testPayload("pro")
	enc, _ := EncodePayload(&p)
	set := func(i int, v byte) []byte {
		b := append([]byte(nil), enc...)
		b[i] = v
		return b
	}
	nb := 2 + 3 // offset of not_before
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"version only", enc[:1]},
		{"truncated", enc[:len(enc)-1]},
		{"trailing byte", append(append([]byte(nil), enc...), 0)},
		{"version 0", set(0, 0)},
		{"version 2", set(0, 2)},
		{"plan length too long", set(1, 4)},
		{"plan length too short", set(1, 2)},
		{"plan length zero", append([]byte{1, 0}, enc[5:]...)},
		{"space in plan", set(2, ' ')},
		{"control byte in plan", set(3, 0x7f)},
		{"not_before off midnight", set(nb+7, enc[nb+7]+1)},
		{"not_before huge", set(nb, 0x80)},
		{"not_after off midnight", set(nb+8+7, enc[nb+8+7]^1)},
		{"not_after before not_before", append(append(append([]byte(nil), enc[:nb]...), append(append([]byte(nil), enc[nb+8:nb+16]...), enc[nb:nb+8]...)...), enc[nb+16:]...)},
		{"zero quota", append(append(append([]byte(nil), enc[:nb+16]...), 0, 0, 0, 0), enc[nb+20:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodePayload(tt.in); !errors.Is(err, ErrInvalidPayload) {
				t.Errorf("DecodePayload(%x): %v", tt.in, err)
			}
		})
	}
}
