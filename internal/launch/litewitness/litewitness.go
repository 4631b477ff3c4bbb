// Package litewitness runs filippo.io/torchwood's litewitness, an
// independent C2SP tlog-witness, as a process: with a dedicated ssh-agent
// holding its Ed25519 key (made with ssh-keygen on first start and kept in
// the witness's folder), and with witnessctl registering the log it
// witnesses. Tests, `licensed dev` and `licensed witness` use it.
//
// It needs litewitness and witnessctl of filippo.io/torchwood v0.6.1 (`make
// tools` installs both), and ssh-agent, ssh-add and ssh-keygen (OpenSSH).
//
//	p, err := litewitness.Start(ctx, litewitness.Config{
//		Dir: "witness1", Name: "example.com/w1", Listen: "127.0.0.1:7380",
//		LogKey: ledgerVerifierKey,
//	})
//	defer p.Stop()
//	fmt.Println(p.VerifierKey) // witness <name> <p.VerifierKey> <p.URL> in a policy
package litewitness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/licensed/licensed/ledger/witness"
)

// Version is the version of filippo.io/torchwood this package is written
// against.
const Version = "v0.6.1"

// Config says which witness to run.
type Config struct {
	// Dir keeps the witness's state: its SSH key (key, key.pub) and its
	// SQLite database (litewitness.db). Created if missing.
	Dir string
	// Name is the witness's key name (URL-like, e.g. example.com/w1).
	Name string
	// Listen is the address to serve on (default 127.0.0.1:0: a free port).
	Listen string
	// LogKey is the note verifier key of the log to witness; its name is
	// the log's origin.
	LogKey string
	// Stderr receives litewitness's log (default: discarded).
	Stderr io.Writer
}

// Process is a running litewitness.
type Process struct {
	// URL is the witness's submission prefix (http://ADDR).
	URL string
	// VerifierKey is the witness's cosignature vkey.
	VerifierKey string
	// PID is litewitness's process id.
	PID int

	cmd, agent *exec.Cmd
	sockDir    string
	done       chan struct{}
}

// Tool returns the path of a torchwood tool (litewitness, witnessctl):
// from PATH, else from GOBIN or GOPATH/bin.
func Tool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	var dirs []string
	if b := os.Getenv("GOBIN"); b != "" {
		dirs = append(dirs, b)
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	for _, gp := range filepath.SplitList(gopath) {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("litewitness: %s is not installed (run `make tools`, or go install filippo.io/torchwood/cmd/%s@%s)", name, name, Version)
}

// Available reports why litewitness cannot run here, or nil.
func Available() error {
	for _, t := range []string{"litewitness", "witnessctl"} {
		if _, err := Tool(t); err != nil {
			return err
		}
	}
	for _, t := range []string{"ssh-agent", "ssh-add", "ssh-keygen"} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("litewitness: %s is not installed (install OpenSSH's client tools)", t)
		}
	}
	return nil
}

// Key returns the witness's Ed25519 public key in dir, making the key with
// ssh-keygen if there is none.
func Key(dir, name string) (ed25519.PublicKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("litewitness: %w", err)
	}
	key := filepath.Join(dir, "key")
	if _, err := os.Stat(key); errors.Is(err, os.ErrNotExist) {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("litewitness: ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		return nil, fmt.Errorf("litewitness: %w", err)
	}
	return parseSSHEd25519(pub)
}

// parseSSHEd25519 parses an authorized_keys line "ssh-ed25519 BASE64 ...".
func parseSSHEd25519(line []byte) (ed25519.PublicKey, error) {
	f := strings.Fields(string(line))
	if len(f) < 2 || f[0] != "ssh-ed25519" {
		return nil, errors.New("litewitness: the witness key is not an ssh-ed25519 key")
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return nil, errors.New("litewitness: malformed ssh public key")
	}
	read := func() []byte {
		if len(blob) < 4 {
			return nil
		}
		n := binary.BigEndian.Uint32(blob)
		if uint32(len(blob)-4) < n {
			return nil
		}
		v := blob[4 : 4+n]
		blob = blob[4+n:]
		return v
	}
	if string(read()) != "ssh-ed25519" {
		return nil, errors.New("litewitness: malformed ssh public key")
	}
	k := read()
	if len(k) != ed25519.PublicKeySize || len(blob) != 0 {
		return nil, errors.New("litewitness: malformed ssh public key")
	}
	return ed25519.PublicKey(k), nil
}

// Start registers the log with the witness's database (once) and starts
// ssh-agent and litewitness. It returns once the witness accepts
// connections.
func Start(ctx context.Context, cfg Config) (_ *Process, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	lw, _ := Tool("litewitness")
	wctl, _ := Tool("witnessctl")
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	origin, _, ok := strings.Cut(cfg.LogKey, "+")
	if !ok {
		return nil, errors.New("litewitness: the log key is not a verifier key")
	}
	pub, err := Key(cfg.Dir, cfg.Name)
	if err != nil {
		return nil, err
	}
	v, err := witness.NewVerifierFromKey(cfg.Name, pub)
	if err != nil {
		return nil, err
	}
	db := filepath.Join(cfg.Dir, "litewitness.db")
	if err := register(ctx, wctl, db, origin, cfg.LogKey); err != nil {
		return nil, err
	}

	// A dedicated agent, on a short socket path (sun_path holds 108 bytes).
	sockDir, err := os.MkdirTemp("", "lw")
	if err != nil {
		return nil, fmt.Errorf("litewitness: %w", err)
	}
	p := &Process{VerifierKey: v.String(), sockDir: sockDir, done: make(chan struct{})}
	defer func() {
		if err != nil {
			p.Stop()
		}
	}()
	sock := filepath.Join(sockDir, "s")
	p.agent = exec.Command("ssh-agent", "-D", "-a", sock)
	p.agent.Stdout, p.agent.Stderr = io.Discard, cfg.Stderr
	// Both processes die with this one, even on SIGKILL: a witness left
	// running would hold its port and its database.
	p.agent.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.agent.Start(); err != nil {
		return nil, fmt.Errorf("litewitness: ssh-agent: %w", err)
	}
	if err := waitFor(ctx, func() bool { _, err := os.Stat(sock); return err == nil }); err != nil {
		return nil, fmt.Errorf("litewitness: ssh-agent did not start: %w", err)
	}
	add := exec.CommandContext(ctx, "ssh-add", filepath.Join(cfg.Dir, "key"))
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("litewitness: ssh-add: %v: %s", err, out)
	}

	addr := cfg.Listen
	if strings.HasSuffix(addr, ":0") {
		if addr, err = freePort(addr); err != nil {
			return nil, err
		}
	}
	fp := sha256.Sum256(pub)
	p.cmd = exec.Command(lw, "-db", db, "-name", cfg.Name, "-key", hex.EncodeToString(fp[:]),
		"-ssh-agent", sock, "-listen", addr)
	p.cmd.Stdout, p.cmd.Stderr = cfg.Stderr, cfg.Stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("litewitness: %w", err)
	}
	p.PID = p.cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait(); close(p.done) }()
	err = waitFor(ctx, func() bool {
		select {
		case <-p.done:
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	select {
	case <-p.done:
		p.cmd = nil
		return nil, fmt.Errorf("litewitness: it exited at start: %v (its log says why)", <-exited)
	default:
	}
	if err != nil {
		return nil, fmt.Errorf("litewitness: it does not answer on %s: %w", addr, err)
	}
	p.URL = "http://" + addr
	return p, nil
}

// register adds the log and its key to the witness's database, unless it
// knows them already (a key added twice would make it refuse the log).
func register(ctx context.Context, wctl, db, origin, vkey string) error {
	out, err := exec.CommandContext(ctx, wctl, "list-logs", "-db", db).CombinedOutput()
	if err != nil {
		return fmt.Errorf("litewitness: witnessctl list-logs: %v: %s", err, out)
	}
	hasLog := bytes.Contains(out, []byte(`"origin":"`+origin+`"`))
	if !hasLog {
		if out, err := exec.CommandContext(ctx, wctl, "add-log", "-db", db, "-origin", origin).CombinedOutput(); err != nil {
			return fmt.Errorf("litewitness: witnessctl add-log: %v: %s", err, out)
		}
	}
	if !bytes.Contains(out, []byte(`"`+vkey+`"`)) {
		if out, err := exec.CommandContext(ctx, wctl, "add-key", "-db", db, "-origin", origin, "-key", vkey).CombinedOutput(); err != nil {
			return fmt.Errorf("litewitness: witnessctl add-key: %v: %s", err, out)
		}
	}
	return nil
}

func freePort(addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("litewitness: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitFor(ctx context.Context, ok func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// Done is closed when litewitness has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop stops litewitness (SIGINT, then SIGKILL after 5 s) and its agent.
func (p *Process) Stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		p.cmd = nil
	}
	if p.agent != nil && p.agent.Process != nil {
		p.agent.Process.Kill()
		p.agent.Wait()
		p.agent = nil
	}
	if p.sockDir != "" {
		os.RemoveAll(p.sockDir)
		p.sockDir = ""
	}
}
