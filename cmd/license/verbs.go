package main

import (
	"strings"
)

// globalFlagNames are the flags that may also come before the verb
// ("license --server URL scan"); each takes a value.
var globalFlagNames = map[string]bool{"server": true, "account": true, "ledger-key": true, "passphrase-file": true}

// hoistGlobalFlags moves global flags given before the verb to just after
// it (after the sub-verb of "account"), where the verb's flag set parses
// them. Anything else is left in place for the usual errors.
func hoistGlobalFlags(args []string) []string {
	var globals []string
	i := 0
	for i < len(args) {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") || !globalFlagNames[name] {
			break
		}
		if hasValue {
			globals = append(globals, args[i])
			i++
			continue
		}
		if i+1 >= len(args) {
			break
		}
		globals = append(globals, args[i], args[i+1])
		i += 2
	}
	if len(globals) == 0 || i >= len(args) {
		return args
	}
	rest := args[i:]
	at := 1
	if rest[0] == "account" {
		at = len(rest) // no sub-verb: after everything
		if len(rest) > 1 && !strings.HasPrefix(rest[1], "-") {
			at = 2
		}
	}
	out := make([]string, 0, len(args))
	out = append(out, rest[:at]...)
	out = append(out, globals...)
	return append(out, rest[at:]...)
}
