package main

import (
	"flag"
	"os"

	"github.com/licensed/licensed/ledger/tlogclient"
)

// envWitnessPolicy names the witness policy file, as --witness-policy does.
const envWitnessPolicy = "LICENSE_WITNESS_POLICY"

// witnessPolicyFile is the C2SP tlog-policy file every checkpoint read from
// the ledger must satisfy (cosignatures of a quorum of its witnesses, on top
// of the ledger key's signature); "" requires none.
var witnessPolicyFile string

// defineWitnessPolicy registers --witness-policy on fs.
func defineWitnessPolicy(fs *flag.FlagSet) {
	fs.StringVar(&witnessPolicyFile, "witness-policy", os.Getenv(envWitnessPolicy),
		"C2SP tlog-policy file of the witnesses whose cosignatures a checkpoint needs (a quorum of them); the server's README shows its own (env "+envWitnessPolicy+")")
}

// withWitnessPolicy gives c the policy of --witness-policy, if any.
func withWitnessPolicy(c *tlogclient.Client) (*tlogclient.Client, error) {
	if witnessPolicyFile == "" {
		return c, nil
	}
	p, err := tlogclient.LoadPolicy(witnessPolicyFile)
	if err != nil {
		return nil, sayf("the witness policy %s does not load: %v.", witnessPolicyFile, err)
	}
	c.Policy = p
	return c, nil
}
