package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/licensed/licensed/issuer"
)

// openPTY opens a pseudo-terminal pair: the master (the "keyboard and
// screen") and the slave (the program's terminal).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// typeWhenSilent types each line on the terminal once the program has
// shown its prompt (on stderr) and turned echo off, as a person would type
// at a password prompt.
func typeWhenSilent(t *testing.T, master, slave *os.File, stderr *syncBuffer, lines ...string) {
	deadline := time.Now().Add(10 * time.Second)
	for i, line := range lines {
		for {
			tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Error(err)
				return
			}
			if strings.Count(stderr.String(), ": ") > i && tio.Lflag&unix.ECHO == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Error("no silent prompt")
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		master.Write([]byte(line + "\n"))
	}
}

// TestPassphrasePrompt runs account new and account address on a real
// pseudo-terminal with no passphrase in the environment: the passphrase is
// asked for twice, never echoed, and opens the file afterwards; two
// different entries write nothing; a seed phrase is typed unseen too.
func TestPassphrasePrompt(t *testing.T) {
	path := useAccount(t)
	t.Setenv(envPassphrase, "")
	restored, err := issuer.NewAccount(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		typed []string
		code  int
		want  string
	}{
		{"mismatch", []string{"account", "new"}, []string{"one secret", "another"}, 1, "the two passphrases differ"},
		{"new", []string{"account", "new"}, []string{"typed secret", "typed secret"}, 0, "Repeat the passphrase"},
		{"open", []string{"account", "address"}, []string{"typed secret"}, 0, "Account passphrase"},
		{"wrong", []string{"account", "address"}, []string{"not it"}, 1, "passphrase is wrong"},
		{"restore", []string{"account", "new", "--restore", "--account", path + ".restored"},
			[]string{restored.SeedPhrase(), "p", "p"}, 0, restored.Address().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			master, slave := openPTY(t)
			var echoed syncBuffer
			go io.Copy(&echoed, master) // what the terminal shows
			var stdout bytes.Buffer
			var stderr syncBuffer
			done := make(chan struct{})
			go func() { defer close(done); typeWhenSilent(t, master, slave, &stderr, tt.typed...) }()
			code := runWithInput(t.Context(), tt.args, slave, &stdout, &stderr)
			<-done
			if code != tt.code || !strings.Contains(stdout.String()+stderr.String(), tt.want) {
				t.Fatalf("exit %d, %q %q; want %d and %q", code, stdout.String(), stderr.String(), tt.code, tt.want)
			}
			time.Sleep(20 * time.Millisecond)
			for _, typed := range tt.typed {
				if strings.Contains(echoed.String(), typed) {
					t.Fatalf("the passphrase was echoed: %q", echoed.String())
				}
			}
			if tt.name == "mismatch" {
				if _, err := os.Stat(path); err == nil {
					t.Fatal("an account file was written despite the mismatch")
				}
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
