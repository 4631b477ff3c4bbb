//go:build unix

package wallet

import (
	"os"
	"syscall"
)

// Lock takes an exclusive advisory lock (flock) on path+".lock", waiting for
// other holders, so that one process at a time reads, changes and saves the
// account file at path. Call the returned function to release it.
func Lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}
