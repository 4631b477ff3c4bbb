package relay

import (
	"github.com/licensed/licensed/ledger/witness"
)

// NewWitnessedMirror is NewMirror for a relay that also requires every
// checkpoint to carry the cosignatures of a quorum of the policy's
// witnesses (a C2SP tlog-policy, see tlogclient.LoadPolicy), on top of the
// ledger key's signature: Sync refuses a checkpoint short of the quorum with
// a *witness.QuorumError, and the mirror stays as it was. The witnesses
// cosign only checkpoints consistent with every one they cosigned before, so
// the mirror follows the history every other client with the same policy
// sees, not one the server shows this relay alone.
func NewWitnessedMirror(c *Client, vkey string, policy *witness.Policy) (*Mirror, error) {
	m, err := NewMirror(c, vkey)
	if err != nil {
		return nil, err
	}
	m.log.Policy = policy
	return m, nil
}
