package main

import (
	"context"
	"io"
)

// inputVerbs are the verbs that may read standard input (passphrases, seed
// phrases, proofs); runWithInput gives it to them. Their summaries are in
// the verbs table of main.go.
var inputVerbs = map[string]func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error{
	"account": runAccount,
	"scan":    runScan,
	"list":    runList,
	"prove":   runProve,
	"admit":   runAdmit,
}
