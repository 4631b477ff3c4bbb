package issuer_test

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/licensed/licensed/issuer"
)

func Example() {
	// The customer makes an account and hands out its address.
	acct, err := issuer.NewAccount(rand.Reader)
	if err != nil {
		panic(err)
	}
	text := acct.Address().String()

	// The issuer parses the address and mints a license for it.
	addr, err := issuer.ParseAddress(text)
	if err != nil {
		fmt.Println(issuer.AddressErrorCode(err), err)
		return
	}
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	out, err := issuer.Mint(rand.Reader, addr, issuer.Payload{
		Plan:       "basic",
		NotBefore:  day,
		NotAfter:   day.AddDate(0, 0, 30),
		DailyQuota: 100,
	})
	if err != nil {
		panic(err)
	}

	// The customer, restored from the seed phrase, finds it on the ledger.
	restored, err := issuer.NewAccountFromSeedPhrase(acct.SeedPhrase())
	if err != nil {
		panic(err)
	}
	for _, f := range restored.ScanOutputs([]issuer.Output{out}, 0) {
		fmt.Println(f.Position, f.License.Payload.Plan, f.License.Payload.NotAfter.Format(time.DateOnly))
	}
	// Output: 0 basic 2026-12-22
}

func ExampleAddressErrorCode() {
	_, err := issuer.ParseAddress("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0")
	fmt.Println(issuer.AddressErrorCode(err))
	fmt.Println(err)
	// Output:
	// address_hrp
	// issuer: this is another kind of address, not a license address: a license address starts with "lic1"; use the address printed by the license tool (prefix "bc")
}
