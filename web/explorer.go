package web

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger"
)

// explorerRecent is how many of the newest entries the explorer shows.
const explorerRecent = 25

// explorerEntry is an entry's public fields as the explorer shows them.
type explorerEntry struct {
	Index     int64
	Kind      string
	Plan      string
	NotBefore string
	NotAfter  string
	P         string // the one-time key, hex
	ViewTag   string
	Target    int64 // of a revoke entry
	Reason    string
	Bad       bool // the stored bytes do not decode (fsck will say more)
}

type proofView struct {
	Index    int64
	Size     int64
	LeafHash string
	Root     string
	Path     []string
	Error    string
}

type explorerView struct {
	Checkpoint string // the signed note
	Size       int64
	Root       string
	Entries    []explorerEntry
	Proof      *proofView
	IndexQuery string
}

func publicEntry(i int64, b []byte) explorerEntry {
	x := explorerEntry{Index: i}
	e, err := ledger.ParseEntry(b)
	if err != nil {
		x.Bad, x.Kind = true, "undecodable"
		return x
	}
	switch e := e.(type) {
	case *ledger.LicenseEntry:
		x.Kind, x.Plan = "license", e.Plan
		x.NotBefore, x.NotAfter = e.NotBefore.Format("2006-01-02"), e.NotAfter.Format("2006-01-02")
		x.P, x.ViewTag = hex.EncodeToString(e.P[:]), hex.EncodeToString([]byte{e.ViewTag})
	case *ledger.RevokeEntry:
		x.Kind, x.Target, x.Reason = "revoke", int64(e.Target), e.Reason.String()
	}
	return x
}

// explorerPage shows the latest checkpoint, the newest entries (public
// fields only) and, for ?index=N, the inclusion proof of entry N in the
// latest tree.
func (s *Server) explorerPage(c echo.Context) error {
	ctx := c.Request().Context()
	st := s.deps.Pages.Explorer
	cp, err := st.Latest(ctx)
	if err != nil {
		return err
	}
	v := explorerView{Checkpoint: string(cp.Note), Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root[:]), IndexQuery: c.QueryParam("index")}
	start := max(0, cp.Size-explorerRecent)
	if cp.Size > 0 {
		raw, err := st.ReadEntries(ctx, start, int(cp.Size-start))
		if err != nil {
			return err
		}
		for i := len(raw) - 1; i >= 0; i-- {
			v.Entries = append(v.Entries, publicEntry(start+int64(i), raw[i]))
		}
	}
	if q := c.QueryParam("index"); q != "" {
		p := &proofView{Size: cp.Size, Root: v.Root}
		v.Proof = p
		idx, err := strconv.ParseInt(q, 10, 64)
		switch {
		case err != nil || idx < 0:
			p.Error = "The index is a whole number from 0."
		case idx >= cp.Size:
			p.Error = "There is no entry at this index yet: the ledger has " + strconv.FormatInt(cp.Size, 10) + " entries."
		default:
			p.Index = idx
			raw, err := st.ReadEntries(ctx, idx, 1)
			if err != nil || len(raw) != 1 {
				return errors.Join(errors.New("web: couldn't read the entry to prove"), err)
			}
			leaf := tlog.RecordHash(raw[0])
			p.LeafHash = base64.StdEncoding.EncodeToString(leaf[:])
			proof, err := ledger.ProveInclusion(ctx, st, idx, cp.Size)
			if err != nil {
				return err
			}
			for _, h := range proof {
				p.Path = append(p.Path, base64.StdEncoding.EncodeToString(h[:]))
			}
		}
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=5")
	return s.render(c, http.StatusOK, "explorer", "Ledger explorer", v)
}
