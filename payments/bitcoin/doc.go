// Package bitcoin takes Bitcoin payments for orders: an invoice address per
// order derived from the operator's account extended public key (BIP84
// native segwit, no private key on the server), an amount in satoshis fixed
// at creation from a rate source, and a watcher that follows btcd and moves
// orders through the payments state machine.
//
// Use it as a payments.Method:
//
//	acct, _ := bitcoin.ParseAccount(zpub, &chaincfg.MainNetParams)
//	btc, _ := bitcoin.New(db, bitcoin.Config{Params: …, Account: acct, Rates: …, RPC: …})
//	svc, _ := payments.New(db, payments.Config{Methods: []payments.Method{card, btc}, …})
//	go btc.Run(ctx, svc)
//
// # Invoices
//
// Prepare prices the order before its creation transaction (the rate source
// may be remote); the begin function it returns, inside that transaction,
// takes the next index of a
// database sequence, derives m/84'/coin'/account'/0/index, stores the invoice
// (address, amount, rate, expiry; default 15 minutes) and returns the
// address, the amount and a BIP21 URI. An index is never reused, even when
// the order's transaction rolls back; when more addresses than the gap limit
// (default 20) follow the last paid one, the operator is warned (log line and
// the licensed_btc_unused_addresses gauge), since a wallet restored from its
// seed stops looking after that many unused addresses. When the rate source
// fails, Begin returns ErrUnavailable (HTTP 503 btc_unavailable) and only
// Bitcoin checkout is affected.
//
// # Watching the chain
//
// Run keeps a websocket connection to btcd (rpcclient reconnects by itself).
// On every (re)connection it subscribes to block notifications and loads the
// transaction filter with the addresses of the invoices of the last WatchFor
// (default 7 days: late payments are still seen). It then catches up: it
// compares the last processed block (table btc_chain, and the last 1000 block
// hashes in btc_blocks) with btcd's best chain, undoes processed blocks that
// left it (a reorg: their payments become unconfirmed), and connects the new
// blocks with rescanblocks, one database transaction per block holding the
// block's payments, the new tip and the resulting order transitions. A
// restart of the server or of btcd therefore misses nothing: the catch-up
// starts from the last block committed. Block notifications only wake the
// catch-up; mempool transactions paying a watched address (relevanttxaccepted)
// are recorded as unconfirmed payments. btcd notifies only what it accepts
// after the filter is loaded, so every (re)connection also reads btcd's
// mempool (getrawmempool, then getrawtransaction 500 at a time) and records
// the payments waiting there: a payment sent while the server was down or
// reconnecting is seen before its block, in time.
//
// Several server processes may run the watcher on one database: a block is
// committed by whichever watcher advances the chain state from the block it
// expected (the others reload). A watcher refuses to record a block while the
// database holds invoices (of the watch window) that were not in its filter
// when it read the block: it loads them and reads the block again, so no
// watcher records a block past a payment it could not see. An address is added
// to btcd's filter before Begin returns, so a payment sent at once is seen in
// the mempool by the process that made the invoice; other processes see it
// when it confirms. rpcclient reconnects with a backoff of 5 s growing to a
// minute while btcd is away.
//
// Payments are rows keyed "txid:vout". An unconfirmed payment keeps its raw
// transaction (erased once it is in a block). When btcd no longer knows an
// unconfirmed payment's transaction, the watcher sends it to btcd again:
// btcd does not keep its mempool across a restart and may evict, and a
// forgotten payment is still a payment. Only if btcd refuses it (its inputs
// are spent by another transaction: replaced under BIP125, or double spent)
// is it marked dropped, and then it counts for nothing: at once when another
// payment of the same invoice arrives (a replacement, which keeps the time
// the first was seen), otherwise after a grace of 5 s, so that a
// replacement's notification still on its way is not taken for late. A transaction that
// is already in a block is answered as such, so this does not rely on
// --txindex (reconciliation, which looks up confirmed payments, does).
//
// # States
//
// After every change the invoice's payments are re-evaluated (decide) and the
// order is moved with payments.Service.Transition, which mints exactly once on
// settled:
//
//	nothing paid                      new (expired after the expiry)
//	less than the amount              new + paid_partial (expired + paid_partial after the expiry)
//	the amount reached after expiry   expired + paid_late (an operator may mark it settled)
//	the amount reached in time        processing, then settled once the payments
//	                                  have Confirmations (default 1); paid_over if more
//	a reorg or replacement removes    settled → processing → new (the license is
//	  (part of) the payment           suspended until the payment confirms again)
//
// "In time" is when the payment was first seen (mempool), or its block's
// time if that is earlier (a payment found during a catch-up).
//
// # What is stored
//
// The invoice (order id, address index, address, amount, rate, expiry) and
// the outputs that paid it (outpoint, amount, first seen, block). Nothing
// about the payer beyond the public transaction itself, and that only while
// it is unconfirmed (to offer it to btcd again): no IP.
//
// internal/launch/regtest runs a btcd on loopback and pays from a
// single-key wallet (dev mode); internal/btcdtest gives each test its own
// btcd.
package bitcoin
