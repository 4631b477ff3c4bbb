-- Bitcoin invoices (package payments/bitcoin). An invoice is the address and
-- amount of a btc order; it keeps no payer data: payments are only the
-- outputs that paid the invoice's address, keyed "txid:vout".

-- Every invoice gets the next receive index of the operator's account key
-- (m/84'/coin'/account'/0/index); an index is never reused.
create sequence btc_address_index as bigint minvalue 0 start 0;

create table btc_invoices (
    order_id      text primary key references orders (id),
    address_index bigint not null unique check (address_index >= 0 and address_index < 2147483648),
    address       text not null unique,
    amount_sats   bigint not null check (amount_sats > 0),
    -- the rate used, in minor units of the order's currency per BTC
    rate          bigint not null check (rate > 0),
    expires_at    timestamptz not null,
    created_at    timestamptz not null default now()
);
create index btc_invoices_created_at on btc_invoices (created_at);

-- An output paying an invoice's address. block_hash/block_height are null
-- while unconfirmed (in the mempool, or back there after a reorg); dropped
-- is true once the transaction left the mempool without confirming (a BIP125
-- replacement, or a double spend).
create table btc_payments (
    outpoint     text primary key,
    order_id     text not null references btc_invoices (order_id),
    amount_sats  bigint not null check (amount_sats > 0),
    seen_at      timestamptz not null,
    block_hash   text,
    block_height int,
    dropped      boolean not null default false,
    check ((block_hash is null) = (block_height is null))
);
create index btc_payments_order on btc_payments (order_id);
create index btc_payments_block_hash on btc_payments (block_hash) where block_hash is not null;
create index btc_payments_unconfirmed on btc_payments (order_id) where block_hash is null and not dropped;

-- The chain as the watcher last processed it: the tip, and the recent blocks
-- (to find the fork point of a reorg). One watcher at a time advances it;
-- each block is processed in one transaction with the payments it carries.
create table btc_chain (
    id         int primary key default 1 check (id = 1),
    height     int not null,
    hash       text not null,
    updated_at timestamptz not null default now()
);
create table btc_blocks (
    height int primary key,
    hash   text not null
);
