-- The raw transaction of an unconfirmed Bitcoin payment, kept only until the
-- payment confirms. btcd does not persist its mempool: after a restart (or an
-- eviction) it no longer knows a payment that is still valid. With the raw
-- transaction the watcher sends it to btcd again instead of calling it
-- dropped; a payment whose inputs were spent elsewhere (replaced or double
-- spent) is refused by btcd and only then marked dropped. It is public data
-- (the customer broadcast it) and is erased once the payment is in a block.
alter table btc_payments add column raw_tx bytea;
