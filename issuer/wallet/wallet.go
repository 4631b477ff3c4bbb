package wallet

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/licensed/licensed/issuer"
)

// Sizes and bounds of the envelope.
const (
	Magic      = "licacct"
	Version    = 1
	KDFArgon2i = 1 // Argon2id; the only key derivation function

	SaltSize   = 16
	CheckSize  = 16
	HeaderSize = len(Magic) + 1 + 1 + 4 + 4 + 1 + SaltSize + CheckSize + chacha20poly1305.NonceSizeX

	// MaxTime, MaxMemoryKiB and MaxThreads bound the Argon2id parameters a
	// file may ask for, so a crafted file cannot make Load run for hours
	// or exhaust memory.
	MaxTime      = 64
	MaxMemoryKiB = 1 << 20
	MaxThreads   = 64

	// MaxFileSize bounds the file Load reads.
	MaxFileSize = 16 << 20
)

// Params are the Argon2id parameters of a file.
type Params struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// DefaultParams are RFC 9106's second recommended option (64 MiB).
var DefaultParams = Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4}

func (p Params) valid() bool {
	return p.Time >= 1 && p.Time <= MaxTime &&
		p.Threads >= 1 && p.Threads <= MaxThreads &&
		p.MemoryKiB >= 8*uint32(p.Threads) && p.MemoryKiB <= MaxMemoryKiB
}

// Errors of Open and Load. Their messages are sentences for the user.
var (
	ErrNotAccountFile  = errors.New("this is not a license account file, or it was made by a newer version of the license tool")
	ErrWrongPassphrase = errors.New("the passphrase is wrong for this account file")
	ErrDamaged         = errors.New("the account file is damaged (its contents do not match its authentication tag); restore it from a backup or from the seed phrase")
	ErrContents        = errors.New("the account file opens but its contents are invalid; restore it from the seed phrase")
	ErrNoPassphrase    = errors.New("the passphrase is empty")
)

// Contents is the decrypted account file.
type Contents struct {
	Version int `json:"version"`
	// Seed is the account seed (issuer.NewAccountFromSeed).
	Seed []byte `json:"seed"`
	// Ledger is what the tool knows of the public ledger.
	Ledger LedgerState `json:"ledger"`
	// Licenses are the licenses found, in ledger order.
	Licenses []License `json:"licenses"`
	// Uses are the next unused counters per license and scope.
	Uses []Use `json:"uses"`
	// Census counts the license entries scanned per plan and validity.
	Census []Census `json:"census,omitempty"`
}

// Census is how many license entries of one plan and validity the scan saw.
// It is public data (every entry's plan and validity are in clear on the
// ledger), a few dozen rows since licenses are minted by whole days; it lets
// the tool check that the server's list of valid licenses, from which decoys
// are drawn, is not a short list made up for this client.
type Census struct {
	Plan string `json:"plan"`
	// From and Until are the validity in days since 1970-01-01 UTC: valid
	// on days From ≤ d < Until.
	From  uint32 `json:"from"`
	Until uint32 `json:"until"`
	Count uint64 `json:"count"`
}

// CountLicense adds one license entry of plan valid on days [from, until)
// to the census.
func (c *Contents) CountLicense(plan string, from, until uint32) {
	for i := range c.Census {
		if r := &c.Census[i]; r.Plan == plan && r.From == from && r.Until == until {
			r.Count++
			return
		}
	}
	c.Census = append(c.Census, Census{Plan: plan, From: from, Until: until, Count: 1})
}

// CensusValid is the number of license entries of plan valid on day that
// the scan saw, revoked or not: an upper bound of the valid licenses of plan
// among the entries scanned.
func (c *Contents) CensusValid(plan string, day uint32) uint64 {
	var n uint64
	for _, r := range c.Census {
		if r.Plan == plan && r.From <= day && day < r.Until {
			n += r.Count
		}
	}
	return n
}

// LedgerState is the audited view of the ledger: the pinned verifier key, the
// last checkpoint whose signature and consistency were checked, and how many
// entries were scanned (always ≤ Size).
type LedgerState struct {
	// Key is the note verifier key of the ledger ("origin+hash+key").
	Key string `json:"key,omitempty"`
	// Size and Root are those of the last audited checkpoint.
	Size int64  `json:"size"`
	Root []byte `json:"root,omitempty"`
	// Scanned is the number of entries scanned: the next index to scan.
	Scanned int64 `json:"scanned"`
}

// License is a license of the account found on the ledger.
type License struct {
	Index      uint64    `json:"index"`
	Plan       string    `json:"plan"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	DailyQuota uint32    `json:"daily_quota"`
	Receipt    []byte    `json:"receipt"`
	// Key is the one-time key P (32 bytes), Secret the license secret x
	// (32 bytes, a canonical scalar) with x·G = P.
	Key    []byte `json:"key"`
	Secret []byte `json:"secret"`
	// Revoked is set when a revoke entry for Index was seen on the ledger.
	Revoked bool `json:"revoked,omitempty"`
}

// Use is the next unused counter of one license in one scope.
type Use struct {
	Scope string `json:"scope"`
	Index uint64 `json:"index"`
	Next  uint32 `json:"next"`
}

// New returns the contents of a fresh account file for acct.
func New(acct *issuer.Account) *Contents {
	seed := acct.Seed()
	return &Contents{Version: Version, Seed: seed[:]}
}

// Account returns the account of the seed.
func (c *Contents) Account() (*issuer.Account, error) {
	return issuer.NewAccountFromSeed(c.Seed)
}

// License returns the license at index, or nil.
func (c *Contents) License(index uint64) *License {
	for i := range c.Licenses {
		if c.Licenses[i].Index == index {
			return &c.Licenses[i]
		}
	}
	return nil
}

// AddLicense records l unless a license with its index is already known.
// It reports whether l was added. Licenses stay sorted by index.
func (c *Contents) AddLicense(l License) bool {
	if c.License(l.Index) != nil {
		return false
	}
	i := len(c.Licenses)
	for i > 0 && c.Licenses[i-1].Index > l.Index {
		i--
	}
	c.Licenses = append(c.Licenses, License{})
	copy(c.Licenses[i+1:], c.Licenses[i:])
	c.Licenses[i] = l
	return true
}

// NextCounter returns the next unused counter of license index in scope
// (0 if it was never used there).
func (c *Contents) NextCounter(index uint64, scope string) uint32 {
	for _, u := range c.Uses {
		if u.Index == index && u.Scope == scope {
			return u.Next
		}
	}
	return 0
}

// SetNextCounter records next as the next unused counter of index in scope.
func (c *Contents) SetNextCounter(index uint64, scope string, next uint32) {
	for i := range c.Uses {
		if c.Uses[i].Index == index && c.Uses[i].Scope == scope {
			c.Uses[i].Next = next
			return
		}
	}
	c.Uses = append(c.Uses, Use{Scope: scope, Index: index, Next: next})
}

// PruneUses drops the counters of every scope for which keep returns false
// (scopes of past days: they can no longer be used, so they need not be
// kept).
func (c *Contents) PruneUses(keep func(scope string) bool) {
	out := c.Uses[:0]
	for _, u := range c.Uses {
		if keep(u.Scope) {
			out = append(out, u)
		}
	}
	c.Uses = out
}

// validate checks the invariants every file written by this package keeps.
func (c *Contents) validate() error {
	if c.Version != Version {
		return fmt.Errorf("version %d", c.Version)
	}
	if _, err := issuer.NewAccountFromSeed(c.Seed); err != nil {
		return errors.New("bad seed")
	}
	if c.Ledger.Size < 0 || c.Ledger.Scanned < 0 || c.Ledger.Scanned > c.Ledger.Size {
		return errors.New("bad ledger state")
	}
	if len(c.Ledger.Root) != 0 && len(c.Ledger.Root) != 32 {
		return errors.New("bad ledger root")
	}
	for i, l := range c.Licenses {
		if i > 0 && c.Licenses[i-1].Index >= l.Index {
			return errors.New("licenses out of order")
		}
		if len(l.Key) != 32 || len(l.Secret) != 32 || len(l.Receipt) != issuer.ReceiptSize ||
			l.Plan == "" || len(l.Plan) > issuer.MaxPlanLen || !l.NotBefore.Before(l.NotAfter) || l.DailyQuota == 0 {
			return fmt.Errorf("bad license %d", l.Index)
		}
	}
	for _, u := range c.Uses {
		if u.Scope == "" {
			return errors.New("empty scope")
		}
	}
	for _, r := range c.Census {
		if r.Plan == "" || r.From >= r.Until || r.Count == 0 {
			return errors.New("bad census row")
		}
	}
	return nil
}

// Key is the key derived from a passphrase for one file: it seals the
// contents again without another Argon2id run.
type Key struct {
	params Params
	salt   [SaltSize]byte
	check  [CheckSize]byte
	aead   [chacha20poly1305.KeySize]byte
}

// DeriveKey runs Argon2id over passphrase with a fresh random salt.
func DeriveKey(passphrase []byte, p Params) (*Key, error) {
	if len(passphrase) == 0 {
		return nil, ErrNoPassphrase
	}
	if !p.valid() {
		return nil, errors.New("wallet: invalid Argon2id parameters")
	}
	k := &Key{params: p}
	if _, err := io.ReadFull(rand.Reader, k.salt[:]); err != nil {
		return nil, err
	}
	k.derive(passphrase)
	return k, nil
}

func (k *Key) derive(passphrase []byte) {
	out := argon2.IDKey(passphrase, k.salt[:], k.params.Time, k.params.MemoryKiB, k.params.Threads, chacha20poly1305.KeySize+CheckSize)
	copy(k.aead[:], out)
	copy(k.check[:], out[chacha20poly1305.KeySize:])
	clear(out)
}

// Params returns the Argon2id parameters of the key.
func (k *Key) Params() Params { return k.params }

// Seal encrypts c into the file format.
func (k *Key) Seal(c *Contents) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("wallet: refusing to write invalid contents: %v", err)
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	h := make([]byte, 0, HeaderSize+len(plain)+chacha20poly1305.Overhead)
	h = append(h, Magic...)
	h = append(h, Version, KDFArgon2i)
	h = binary.BigEndian.AppendUint32(h, k.params.Time)
	h = binary.BigEndian.AppendUint32(h, k.params.MemoryKiB)
	h = append(h, k.params.Threads)
	h = append(h, k.salt[:]...)
	h = append(h, k.check[:]...)
	var nonce [chacha20poly1305.NonceSizeX]byte
	if _, err := io.ReadFull(rand.Reader, nonce[:]); err != nil {
		return nil, err
	}
	h = append(h, nonce[:]...)
	aead, _ := chacha20poly1305.NewX(k.aead[:])
	return aead.Seal(h, nonce[:], plain, h[:HeaderSize]), nil
}

// envelope is a parsed file header.
type envelope struct {
	params     Params
	salt       [SaltSize]byte
	check      [CheckSize]byte
	nonce      []byte
	header     []byte
	ciphertext []byte
}

// parseEnvelope splits a file into its header fields and ciphertext,
// refusing anything this version did not write.
func parseEnvelope(b []byte) (*envelope, error) {
	if len(b) < HeaderSize+chacha20poly1305.Overhead || string(b[:len(Magic)]) != Magic ||
		b[7] != Version || b[8] != KDFArgon2i {
		return nil, ErrNotAccountFile
	}
	e := &envelope{params: Params{
		Time:      binary.BigEndian.Uint32(b[9:]),
		MemoryKiB: binary.BigEndian.Uint32(b[13:]),
		Threads:   b[17],
	}}
	if !e.params.valid() {
		return nil, ErrNotAccountFile
	}
	copy(e.salt[:], b[18:34])
	copy(e.check[:], b[34:50])
	e.nonce = b[50:HeaderSize]
	e.header = b[:HeaderSize]
	e.ciphertext = b[HeaderSize:]
	return e, nil
}

// decodeContents parses and validates the plaintext.
func decodeContents(plain []byte) (*Contents, error) {
	d := json.NewDecoder(bytes.NewReader(plain))
	d.DisallowUnknownFields()
	var c Contents
	if err := d.Decode(&c); err != nil {
		return nil, ErrContents
	}
	if d.More() {
		return nil, ErrContents
	}
	if err := c.validate(); err != nil {
		return nil, ErrContents
	}
	return &c, nil
}

// Open decrypts a file with passphrase. It returns ErrNotAccountFile,
// ErrWrongPassphrase, ErrDamaged or ErrContents; the returned Key seals the
// contents again under the same passphrase.
func Open(b, passphrase []byte) (*Contents, *Key, error) {
	e, err := parseEnvelope(b)
	if err != nil {
		return nil, nil, err
	}
	if len(passphrase) == 0 {
		return nil, nil, ErrNoPassphrase
	}
	k := &Key{params: e.params, salt: e.salt}
	k.derive(passphrase)
	if subtle.ConstantTimeCompare(k.check[:], e.check[:]) != 1 {
		return nil, nil, ErrWrongPassphrase
	}
	aead, _ := chacha20poly1305.NewX(k.aead[:])
	plain, err := aead.Open(nil, e.nonce, e.ciphertext, e.header)
	if err != nil {
		return nil, nil, ErrDamaged
	}
	defer clear(plain)
	c, err := decodeContents(plain)
	if err != nil {
		return nil, nil, err
	}
	return c, k, nil
}

// Load reads and decrypts the file at path. A missing file is an error
// matching fs.ErrNotExist.
func Load(path string, passphrase []byte) (*Contents, *Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(b) > MaxFileSize {
		return nil, nil, ErrNotAccountFile
	}
	return Open(b, passphrase)
}

// Save seals c and replaces the file at path atomically (a temporary file in
// the same folder, synced, then renamed), readable by its owner only.
func (k *Key) Save(path string, c *Contents) error {
	b, err := k.Seal(c)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // a no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Create writes a new file at path, making its folder (mode 0700) if needed.
// It refuses to overwrite an existing file (fs.ErrExist).
func (k *Key) Create(path string, c *Contents) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	if err := k.Save(path, c); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
