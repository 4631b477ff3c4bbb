// Package cli is the verb dispatcher that the licensed server and the
// license tool share: the usage text, the exit statuses (0 done or help, 1 a
// failure, 2 a mistake on the command line) and flag parsing.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// A Command is one verb of a program.
type Command struct {
	Name, Summary string
	Run           func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// Verb returns the Command name.
func Verb(name, summary string, run func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error) Command {
	return Command{Name: name, Summary: summary, Run: run}
}

// NoInput adapts a verb that does not read standard input.
func NoInput(run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) func(context.Context, []string, io.Reader, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
		return run(ctx, args, stdout, stderr)
	}
}

// A Program is a command with verbs.
type Program struct {
	Name     string    // "licensed"
	Noun     string    // what a verb is called in the usage text: "COMMAND"
	Commands []Command // in the order of the usage text
	Footer   string    // printed after the list of verbs
}

// Usage writes the program's usage text to w.
func (p *Program) Usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s %s [flags]\n\n", p.Name, p.Noun)
	for _, c := range p.Commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\n%s\n", p.Footer)
}

// Run runs the verb args[0] and returns the exit status: 0 when it succeeds
// or help was asked for, 2 for a UsageError (printed) or an unknown verb,
// the status of an ExitError, and 1 for any other error (printed).
func (p *Program) Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		p.Usage(stdout)
		return 0
	}
	var cmd *Command
	for i := range p.Commands {
		if p.Commands[i].Name == args[0] {
			cmd = &p.Commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "%s: unknown %s %q\n\n", p.Name, strings.ToLower(p.Noun), args[0])
		p.Usage(stderr)
		return 2
	}
	err := cmd.Run(ctx, args[1:], stdin, stdout, stderr)
	var exit ExitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(UsageError)):
		fmt.Fprintf(stderr, "%s %s: %v\n", p.Name, args[0], err)
		return 2
	case errors.As(err, &exit):
		return int(exit)
	default:
		fmt.Fprintf(stderr, "%s %s: %v\n", p.Name, args[0], err)
		return 1
	}
}

// Main runs run with a context that ends on SIGINT or SIGTERM, and exits
// with the status it returns.
func Main(run func(ctx context.Context) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx)
	stop()
	os.Exit(code)
}

// UsageError is a mistake on the command line (exit status 2).
type UsageError string

func (e UsageError) Error() string { return string(e) }

// ExitError ends the program with a status and nothing more to say (the
// verb has already printed its findings).
type ExitError int

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// ParseFlags parses args into a fresh flag set named name ("licensed
// serve"). A mistake has been printed with the usage when it returns
// ExitError(2); -h gives flag.ErrHelp.
func ParseFlags(name string, args []string, stderr io.Writer, define func(fs *flag.FlagSet)) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	define(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, ExitError(2)
	}
	return fs, nil
}
