package ringverify

import (
	"crypto/sha512"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
)

// packageLabels returns every constant named Label… declared in the
// package's non-test files, by parsing them, so that a new label cannot
// escape the checks below.
func packageLabels(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, id := range vs.Names {
				if !strings.HasPrefix(id.Name, "Label") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s is not a string literal", id.Name)
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				labels[id.Name] = v
			}
			return true
		})
	}
	if len(labels) < 8 {
		t.Fatalf("found only %d labels: %v", len(labels), labels)
	}
	return labels
}

func TestLabelsPrefixFree(t *testing.T) {
	labels := packageLabels(t)
	for n1, l1 := range labels {
		if !strings.HasPrefix(l1, "lic/v1/") {
			t.Errorf("%s = %q does not start with lic/v1/", n1, l1)
		}
		for n2, l2 := range labels {
			if n1 != n2 && strings.HasPrefix(l2, l1) {
				t.Errorf("%s = %q is a prefix of %s = %q", n1, l1, n2, l2)
			}
		}
	}
}

// TestLabelsDocumented checks that every label appears in the label table of
// the package documentation, as "| `label` |".
func TestLabelsDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range packageLabels(t) {
		if !strings.Contains(string(doc), "| `"+l+"` |") {
			t.Errorf("%s = %q is not in the label table in doc.go", name, l)
		}
	}
}

func TestHashToScalarConcatenates(t *testing.T) {
	a := HashToScalar(LabelNonce, []byte("ab"), []byte("c"))
	b := HashToScalar(LabelNonce, []byte("a"), []byte("bc"))
	if a.Equal(b) != 1 {
		t.Error("HashToScalar is not a hash of the concatenation")
	}
	if a.Equal(HashToScalar(LabelChallenge, []byte("abc"))) == 1 {
		t.Error("labels do not separate HashToScalar")
	}
	e1 := HashToElement(LabelTag, []byte("x"))
	e2 := HashToElement(LabelTag, []byte("y"))
	if e1.Equal(e2) == 1 || e1.Equal(identity) == 1 {
		t.Error("HashToElement is degenerate")
	}
}

// TestTagBaseEncoding pins TagBase to its documented input layout.
func TestTagBaseEncoding(t *testing.T) {
	key := make([]byte, 32)
	key[0] = 0xaa
	in := []byte{0, 5}
	in = append(in, "net/x"...)
	in = append(in, 0x01, 0x02, 0x03, 0x04)
	in = append(in, key...)
	if TagBase("net/x", 0x01020304, key).Equal(HashToElement(LabelTag, in)) != 1 {
		t.Error("TagBase does not hash u16(len(scope)) ‖ scope ‖ u32(counter) ‖ key")
	}
}

// TestHashLengths checks both of hashInto's paths (stack buffer and
// streaming) against SHA-512 of the concatenation.
func TestHashLengths(t *testing.T) {
	for _, n := range []int{0, 1, 100, 512 - len(LabelNonce), 512 - len(LabelNonce) + 1, 5000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i)
		}
		sum := sha512.Sum512(append([]byte(LabelNonce), data...))
		want, err := ristretto255.NewScalar().SetUniformBytes(sum[:])
		if err != nil {
			t.Fatal(err)
		}
		if HashToScalar(LabelNonce, data[:n/2], data[n/2:]).Equal(want) != 1 {
			t.Errorf("HashToScalar over %d bytes is not SHA-512 of the concatenation", n)
		}
		wantE, _ := ristretto255.NewIdentityElement().SetUniformBytes(sum[:])
		if HashToElement(LabelNonce, data).Equal(wantE) != 1 {
			t.Errorf("HashToElement over %d bytes is not SHA-512 of the concatenation", n)
		}
	}
	if a := testing.AllocsPerRun(10, func() { TagBase("net/x", 1, make([]byte, 32)) }); a > 1 {
		t.Errorf("TagBase allocates %v times", a)
	}
}
