//go:build !unix

package wallet

// Lock is a no-op where flock is not available: run one license command at a
// time on such systems.
func Lock(path string) (unlock func(), err error) { return func() {}, nil }
