package admission

import (
	"errors"
	"fmt"
	"testing"

	"github.com/licensed/licensed/ringverify"
)

// TestRefusalsKeepTheirCause: a ringverify refusal translated into an
// admission refusal keeps its code (bad_signature for "signature") and stays
// in the chain, so errors.Is matches both the admission value and the
// ringverify one.
func TestRefusalsKeepTheirCause(t *testing.T) {
	for _, tt := range []struct {
		cause *ringverify.Error
		code  string
		is    error
	}{
		{ringverify.ErrMemberExpired, "member_expired", nil},
		{ringverify.ErrMemberRevoked, "member_revoked", nil},
		{ringverify.ErrBadSignature, "bad_signature", ErrBadSignature},
	} {
		err := fromRingverify(fmt.Errorf("verifying: %w", tt.cause))
		if Code(err) != tt.code {
			t.Errorf("%s: code %q, want %q", tt.cause.Code(), Code(err), tt.code)
		}
		if !errors.Is(err, tt.cause) {
			t.Errorf("%s: errors.Is no longer matches ringverify's value", tt.cause.Code())
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: errors.Is does not match admission's value", tt.cause.Code())
		}
		var coded interface{ Code() string }
		if !errors.As(err, &coded) || coded.Code() != tt.code {
			t.Errorf("%s: the Code() method says %v", tt.cause.Code(), coded)
		}
	}
	if err := fromRingverify(errors.New("database down")); Code(err) != "" {
		t.Errorf("an internal error got code %q", Code(err))
	}
}
