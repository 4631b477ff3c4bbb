package witness

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Limits of a policy, those C2SP recommends at least.
const (
	maxPolicyLogs      = 32
	maxPolicyWitnesses = 32
	maxPolicyGroups    = 32
	maxPolicySize      = 64 << 10
)

// A Policy is a parsed C2SP tlog-policy file.
type Policy struct {
	// Logs are the log keys of the log lines, as vkeys, with their URLs.
	Logs []PolicyLog
	// Witnesses are the witness lines, in file order.
	Witnesses []*PolicyWitness

	quorum *node // nil for "quorum none"
}

// A PolicyLog is a log line.
type PolicyLog struct {
	Key string // the vkey as written
	URL string
}

// A PolicyWitness is a witness line.
type PolicyWitness struct {
	Name     string
	Verifier *Verifier
	URL      string // submission prefix, "" if none
}

// node is a witness (w != nil) or a group of k of its members.
type node struct {
	name    string
	w       *PolicyWitness
	k       int
	members []*node
}

// PolicyError is a policy file that does not parse, with its line number.
type PolicyError struct {
	Line int
	Msg  string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("witness: policy line %d: %s", e.Line, e.Msg)
}

// ParsePolicy parses a C2SP tlog-policy file.
func ParsePolicy(text []byte) (*Policy, error) {
	if len(text) > maxPolicySize {
		return nil, &PolicyError{0, "the policy file is larger than 64 KiB"}
	}
	p := &Policy{}
	names := map[string]*node{}
	keys := map[string]bool{} // public keys, to refuse duplicates
	used := map[string]bool{} // names that are a member of a group already
	var quorum *node
	haveQuorum := false
	for i, raw := range bytes.Split(text, []byte("\n")) {
		n := i + 1
		for _, c := range raw {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return nil, &PolicyError{n, "control characters other than tab are not allowed"}
			}
		}
		f := strings.FieldsFunc(string(raw), func(r rune) bool { return r == ' ' || r == '\t' })
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		fail := func(format string, args ...any) error { return &PolicyError{n, fmt.Sprintf(format, args...)} }
		define := func(name string, nd *node) error {
			if name == "none" {
				return fail("the name none is reserved")
			}
			if names[name] != nil {
				return fail("%q is defined twice", name)
			}
			names[name] = nd
			return nil
		}
		switch f[0] {
		case "log":
			if len(f) < 2 || len(f) > 3 {
				return nil, fail("a log line is: log <vkey> [<url>]")
			}
			v, err := note.NewVerifier(f[1])
			if err != nil {
				return nil, fail("log key %q: %v", f[1], err)
			}
			pub := "log:" + strings.SplitN(f[1], "+", 3)[2]
			if keys[pub] {
				return nil, fail("log %s is listed twice", v.Name())
			}
			keys[pub] = true
			l := PolicyLog{Key: f[1]}
			if len(f) == 3 {
				l.URL = f[2]
			}
			if len(p.Logs) == maxPolicyLogs {
				return nil, fail("more than %d logs", maxPolicyLogs)
			}
			p.Logs = append(p.Logs, l)
		case "witness":
			if len(f) < 3 || len(f) > 4 {
				return nil, fail("a witness line is: witness <name> <vkey> [<url>]")
			}
			v, err := NewVerifier(f[2])
			if err != nil {
				return nil, fail("%v", err)
			}
			pub := "witness:" + string(v.key)
			if keys[pub] {
				return nil, fail("witness %q has the key of a witness listed before", f[1])
			}
			keys[pub] = true
			w := &PolicyWitness{Name: f[1], Verifier: v}
			if len(f) == 4 {
				w.URL = f[3]
			}
			if err := define(f[1], &node{name: f[1], w: w, k: 1}); err != nil {
				return nil, err
			}
			if len(p.Witnesses) == maxPolicyWitnesses {
				return nil, fail("more than %d witnesses", maxPolicyWitnesses)
			}
			p.Witnesses = append(p.Witnesses, w)
		case "group":
			if len(f) < 4 {
				return nil, fail("a group line is: group <name> <k>|all|any <member>...")
			}
			g := &node{name: f[1]}
			for _, m := range f[3:] {
				mn := names[m]
				if mn == nil {
					return nil, fail("group %q names %q, which is not defined on a line before", f[1], m)
				}
				if used[m] {
					return nil, fail("%q is a member of more than one group", m)
				}
				used[m] = true
				g.members = append(g.members, mn)
			}
			switch f[2] {
			case "all":
				g.k = len(g.members)
			case "any":
				g.k = 1
			default:
				k, ok := parseDecimal(f[2])
				if !ok || k < 1 || k > int64(len(g.members)) {
					return nil, fail("group %q needs a threshold between 1 and its %d members, or all, or any", f[1], len(g.members))
				}
				g.k = int(k)
			}
			if err := define(f[1], g); err != nil {
				return nil, err
			}
			if groups := countGroups(names); groups > maxPolicyGroups {
				return nil, fail("more than %d groups", maxPolicyGroups)
			}
		case "quorum":
			if len(f) != 2 {
				return nil, fail("a quorum line is: quorum <name>|none")
			}
			if haveQuorum {
				return nil, fail("a policy has exactly one quorum line")
			}
			haveQuorum = true
			if f[1] != "none" {
				if quorum = names[f[1]]; quorum == nil {
					return nil, fail("the quorum %q is not defined on a line before", f[1])
				}
			}
		default:
			return nil, fail("unknown keyword %q (want log, witness, group or quorum)", f[0])
		}
	}
	if !haveQuorum {
		return nil, &PolicyError{0, "the policy has no quorum line (use 'quorum none' to require no cosignature)"}
	}
	p.quorum = quorum
	return p, nil
}

func countGroups(names map[string]*node) int {
	n := 0
	for _, nd := range names {
		if nd.w == nil {
			n++
		}
	}
	return n
}

// RequiresCosignatures reports whether the quorum is not "none".
func (p *Policy) RequiresCosignatures() bool { return p.quorum != nil }

// Quorum describes the quorum, e.g. "2 of w1, w2, w3" or "none".
func (p *Policy) Quorum() string {
	if p.quorum == nil {
		return "none"
	}
	return describe(p.quorum)
}

func describe(n *node) string {
	if n.w != nil {
		return n.name
	}
	var ms []string
	for _, m := range n.members {
		if m.w != nil {
			ms = append(ms, m.name)
		} else {
			ms = append(ms, "("+describe(m)+")")
		}
	}
	return fmt.Sprintf("%d of %s", n.k, strings.Join(ms, ", "))
}

// ListsLog reports whether the policy accepts the log key named name with
// key ID id: true when the policy lists no logs, or lists that key.
func (p *Policy) ListsLog(name string, id uint32) bool {
	if len(p.Logs) == 0 {
		return true
	}
	for _, l := range p.Logs {
		if v, err := note.NewVerifier(l.Key); err == nil && v.Name() == name && v.KeyHash() == id {
			return true
		}
	}
	return false
}

// Cosigners returns the names (as the policy calls them) of the policy's
// witnesses that validly cosigned msg, a signed checkpoint note. Signature
// lines of unknown keys, and invalid ones, are ignored.
func (p *Policy) Cosigners(msg []byte) ([]string, error) {
	text, sigs, err := SplitNote(msg)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, w := range p.Witnesses {
		for _, s := range sigs {
			c, err := ParseCosignatureLine(s)
			if err == nil && c.Verify(w.Verifier, text) {
				out = append(out, w.Name)
				break
			}
		}
	}
	return out, nil
}

// Satisfied reports whether the witnesses named (as the policy calls them)
// satisfy the quorum.
func (p *Policy) Satisfied(cosigners []string) bool {
	if p.quorum == nil {
		return true
	}
	return satisfied(p.quorum, cosigners)
}

func satisfied(n *node, cosigners []string) bool {
	if n.w != nil {
		return slices.Contains(cosigners, n.name)
	}
	k := 0
	for _, m := range n.members {
		if satisfied(m, cosigners) {
			k++
		}
	}
	return k >= n.k
}

// A QuorumError is a checkpoint whose cosignatures do not satisfy the
// policy's quorum.
type QuorumError struct {
	Size      int64 // the checkpoint's size, -1 if unknown
	Cosigners []string
	Quorum    string
}

func (e *QuorumError) Error() string {
	by := "no witness of the policy"
	if len(e.Cosigners) > 0 {
		by = strings.Join(e.Cosigners, ", ") + " only"
	}
	return fmt.Sprintf("witness: refusing the checkpoint of size %d: it is cosigned by %s, short of the policy's quorum (%s), so it may be a view of the ledger that other clients do not see", e.Size, by, e.Quorum)
}

// Check returns the policy's witnesses that cosigned msg, a signed
// checkpoint note whose log signature the caller has verified, or a
// *QuorumError if they do not satisfy the quorum. size is the checkpoint's
// size, for the error.
func (p *Policy) Check(msg []byte, size int64) ([]string, error) {
	names, err := p.Cosigners(msg)
	if err != nil {
		return nil, err
	}
	if !p.Satisfied(names) {
		return names, &QuorumError{Size: size, Cosigners: names, Quorum: p.Quorum()}
	}
	return names, nil
}

// FormatWitnessLine returns a policy's witness line (for tools that write
// policies).
func FormatWitnessLine(name, vkey, url string) string {
	s := "witness " + name + " " + vkey
	if url != "" {
		s += " " + url
	}
	return s + "\n"
}

// GroupLine returns "group <name> <k> <members>\n".
func GroupLine(name string, k int, members []string) string {
	return "group " + name + " " + strconv.Itoa(k) + " " + strings.Join(members, " ") + "\n"
}
