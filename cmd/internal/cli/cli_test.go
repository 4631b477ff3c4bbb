package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestRunExitStatuses(t *testing.T) {
	p := &Program{Name: "prog", Noun: "VERB", Footer: "footer text", Commands: []Command{
		Verb("ok", "succeeds", NoInput(func(context.Context, []string, io.Writer, io.Writer) error { return nil })),
		Verb("bad", "a usage mistake", NoInput(func(context.Context, []string, io.Writer, io.Writer) error { return UsageError("give --x") })),
		Verb("fail", "fails", NoInput(func(context.Context, []string, io.Writer, io.Writer) error { return errors.New("it broke") })),
		Verb("exit3", "exits 3", NoInput(func(context.Context, []string, io.Writer, io.Writer) error { return ExitError(3) })),
		Verb("echo", "reads stdin", func(_ context.Context, args []string, stdin io.Reader, stdout, _ io.Writer) error {
			_, err := io.Copy(stdout, stdin)
			return err
		}),
	}}
	for _, tt := range []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{nil, 0, "usage: prog VERB [flags]", ""},
		{[]string{"help"}, 0, "  fail       fails", ""},
		{[]string{"ok"}, 0, "", ""},
		{[]string{"bad"}, 2, "", "prog bad: give --x"},
		{[]string{"fail"}, 1, "", "prog fail: it broke"},
		{[]string{"exit3"}, 3, "", ""},
		{[]string{"nope"}, 2, "", `prog: unknown verb "nope"`},
		{[]string{"echo"}, 0, "from stdin", ""},
	} {
		var out, errOut bytes.Buffer
		code := p.Run(context.Background(), tt.args, strings.NewReader("from stdin"), &out, &errOut)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errOut.String(), tt.errOut) {
			t.Errorf("%v: %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, out.String(), errOut.String(), tt.code, tt.out, tt.errOut)
		}
		if tt.errOut == "" && errOut.Len() > 0 {
			t.Errorf("%v: unexpected stderr %q", tt.args, errOut.String())
		}
	}
}

func TestParseFlags(t *testing.T) {
	var errOut bytes.Buffer
	_, err := ParseFlags("prog verb", []string{"--nope"}, &errOut, func(*flag.FlagSet) {})
	if !errors.Is(err, ExitError(2)) || !strings.Contains(errOut.String(), "flag provided but not defined: -nope") {
		t.Fatalf("err %v, stderr %q", err, errOut.String())
	}
}
