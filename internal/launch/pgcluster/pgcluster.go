// Package pgcluster runs a private PostgreSQL cluster from the server binaries
// installed on the machine (initdb and postgres from /usr/lib/postgresql/*/bin
// or $PATH). It is what `licensed dev` uses for its embedded database and what
// package pgtest uses for throwaway test clusters.
//
// The cluster listens only on a Unix socket in a private directory (no TCP
// port is opened, so two clusters never collide), trusts local connections,
// and runs as a child process of the caller: when the caller exits, even by
// SIGKILL, the kernel sends the postmaster SIGQUIT (Pdeathsig) so no postgres
// process outlives it. When the caller is root, initdb and postgres run as the
// "postgres" user (the equivalent of `runuser -u postgres --`, done with
// process credentials) on a data folder owned by that user, since PostgreSQL
// refuses to run as root.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoServer is returned when no PostgreSQL server binaries are installed.
var ErrNoServer = errors.New("pgcluster: no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and $PATH); install the Debian package 'postgresql'")

// Config says where the cluster lives and how it runs.
type Config struct {
	// Dir holds the data folder ("data") and the socket folder ("run").
	Dir string
	// Fsync keeps fsync on. Tests turn it off for speed; dev mode and
	// benchmarks that measure durability keep it on.
	Fsync bool
	// Log receives the server's log; nil discards it.
	Log *os.File
}

// Cluster is a running PostgreSQL cluster.
type Cluster struct {
	cfg  Config
	bin  string
	cred *syscall.Credential

	// life serialises Stop and Supervise's restarts, so that Stop never
	// misses a server being started again.
	life sync.Mutex

	mu      sync.Mutex // guards the fields below
	cmd     *exec.Cmd  // the current postmaster
	done    chan struct{}
	err     error // how the current postmaster exited, once done is closed
	stopped bool
}

// BinDir finds the directory holding initdb and postgres, newest version first.
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNoServer
}

func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// Start initialises the cluster on first use (an empty or missing data folder)
// and starts it. It returns once the server accepts connections.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgcluster: running as root needs a 'postgres' user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	c.cfg.Dir = abs
	if n := len(filepath.Join(c.socketDir(), ".s.PGSQL.5432")); n > 107 {
		return nil, fmt.Errorf("pgcluster: the folder %s is too deep for a Unix socket path (%d bytes, at most 107); choose a shorter data folder", abs, n)
	}
	if c.cred != nil {
		if err := os.MkdirAll(filepath.Dir(abs), 0o711); err != nil {
			return nil, err
		}
		if err := traversable(filepath.Dir(abs)); err != nil {
			return nil, err
		}
	}
	if err := c.mkdir(c.cfg.Dir); err != nil {
		return nil, err
	}
	if err := c.mkdir(c.socketDir()); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// traversable checks that the postgres user can reach dir: every folder on
// the way must be searchable by others (root's home, mode 0700, is not).
func traversable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil && fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pgcluster: the server runs as the postgres user, which cannot enter %s (mode %v); choose a data folder outside it or run 'chmod o+x %s'", d, fi.Mode().Perm(), d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func (c *Cluster) dataDir() string   { return filepath.Join(c.cfg.Dir, "data") }
func (c *Cluster) socketDir() string { return filepath.Join(c.cfg.Dir, "run") }

// mkdir makes dir (mode 0700) owned by the user the server runs as.
func (c *Cluster) mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: couldn't create %s: %w", dir, err)
	}
	if c.cred != nil {
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("pgcluster: couldn't give %s to the postgres user: %w", dir, err)
		}
	}
	return nil
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true}
	cmd.Dir = c.cfg.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	return cmd
}

func (c *Cluster) initdb(ctx context.Context) error {
	cmd := c.command(ctx, "initdb", "-D", c.dataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgcluster: initdb failed: %w\n%s", err, out.String())
	}
	return nil
}

func (c *Cluster) start(ctx context.Context) error {
	fsync := "off"
	if c.cfg.Fsync {
		fsync = "on"
	}
	// The postmaster is our child. Pdeathsig is tied to the OS thread that
	// forks it, so the fork happens on a locked thread that is never reused.
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine only after the child is gone
		cmd := c.command(context.Background(), "postgres",
			"-D", c.dataDir(),
			"-c", "listen_addresses=",
			"-c", "unix_socket_directories="+c.socketDir(),
			"-c", "unix_socket_permissions=0777",
			"-c", "fsync="+fsync,
			"-c", "synchronous_commit="+map[bool]string{true: "on", false: "off"}[c.cfg.Fsync],
			"-c", "full_page_writes="+fsync,
			"-c", "max_connections=200",
			"-c", "shared_buffers=64MB",
		)
		cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
		if c.cfg.Log != nil {
			cmd.Stdout, cmd.Stderr = c.cfg.Log, c.cfg.Log
		}
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("pgcluster: couldn't start postgres: %w", err)
			return
		}
		c.mu.Lock()
		c.cmd, c.done, c.err = cmd, done, nil
		c.mu.Unlock()
		started <- nil
		err := cmd.Wait()
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(done)
	}()
	if err := <-started; err != nil {
		return err
	}
	// Wait until it accepts connections.
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-done:
			c.mu.Lock()
			exit := c.err
			c.mu.Unlock()
			return fmt.Errorf("pgcluster: postgres exited while starting (%v); its log is in %s", exit, c.logHint())
		case <-ctx.Done():
			c.shutdown()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.shutdown()
			return fmt.Errorf("pgcluster: postgres did not accept connections within 60s: %w", err)
		}
	}
}

func (c *Cluster) logHint() string {
	if c.cfg.Log != nil {
		return c.cfg.Log.Name()
	}
	return "(discarded)"
}

// URL returns a connection URL for database db as the postgres superuser.
func (c *Cluster) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/" + db}
	q := url.Values{}
	q.Set("host", c.socketDir())
	u.RawQuery = q.Encode()
	return u.String()
}

// URLAt returns the connection URL of database db in the cluster whose
// folder is dir (Config.Dir), whichever process runs it: how tools reach
// the managed cluster of a running `licensed dev`.
func URLAt(dir, db string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return (&Cluster{cfg: Config{Dir: abs}}).URL(db), nil
}

// Exists reports whether dir holds an initialised cluster.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION"))
	return err == nil
}

// Running reports whether the cluster in dir is running: its postmaster
// answers on its socket.
func Running(dir string) bool {
	conn, err := net.DialTimeout("unix", filepath.Join(dir, "run", ".s.PGSQL.5432"), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Pid is the postmaster's process id (the current one, under Supervise).
func (c *Cluster) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmd.Process.Pid
}

// Done is closed when the server has exited (the current one, under
// Supervise).
func (c *Cluster) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// Stop shuts the server down (fast shutdown: open transactions are rolled
// back, committed data is kept) and waits for it to exit. Supervise does not
// start it again.
func (c *Cluster) Stop() error {
	c.life.Lock()
	defer c.life.Unlock()
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	c.shutdown()
	return nil
}

// shutdown stops the current postmaster: SIGINT (fast shutdown), then
// SIGQUIT after 30 s.
func (c *Cluster) shutdown() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		<-done
	}
}

// Supervise starts the server again whenever it exits without Stop (a
// crash, an OOM kill, a SIGKILL), until ctx ends or Stop is called. Each
// exit and each restart is logged on log. A restart is tried again, backing
// off up to 5 s, while the server cannot start: after a SIGKILL of the
// postmaster its orphaned backends hold the shared memory until they notice
// and exit, and postgres refuses to start until then.
func (c *Cluster) Supervise(ctx context.Context, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.Done():
		}
		c.mu.Lock()
		stopped, exit := c.stopped, c.err
		c.mu.Unlock()
		if stopped {
			return
		}
		log.Error("the managed Postgres exited; starting it again", "err", exit, "log", c.logHint())
		wait := 200 * time.Millisecond
		for attempt := 1; ; attempt++ {
			c.life.Lock()
			if c.stopped || ctx.Err() != nil {
				c.life.Unlock()
				return
			}
			start := time.Now()
			err := c.start(ctx)
			c.life.Unlock()
			if err == nil {
				log.Warn("restarted the managed Postgres", "attempt", attempt, "pid", c.Pid(), "took", time.Since(start).Round(time.Millisecond))
				break
			}
			log.Warn("couldn't restart the managed Postgres yet", "attempt", attempt, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
		}
	}
}

// EnsureDatabase creates database name if it does not exist.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: couldn't connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `select exists(select 1 from pg_database where datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("pgcluster: couldn't list databases: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, `create database `+pgx.Identifier{name}.Sanitize()); err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("pgcluster: couldn't create database %s: %w", name, err)
	}
	return nil
}
