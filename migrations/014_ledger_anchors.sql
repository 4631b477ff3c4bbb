-- The ledger's Bitcoin timestamps (package payments/bitcoin/anchor).
--
-- An anchor is a transaction paid from the operator's anchor key whose
-- OP_RETURN output carries the digest of a checkpoint (package
-- ledger/anchor). Unlike the log tables, an anchor row changes: its block
-- moves when a reorg drops or moves the transaction, and it is marked
-- replaced when it can no longer confirm.
create table ledger_anchors (
    id           bigserial primary key,
    size         bigint not null check (size >= 0),
    checkpoint   bytea not null,  -- the note anchored, with its cosignatures
    digest       bytea not null check (length(digest) = 32),
    txid         text not null unique check (txid ~ '^[0-9a-f]{64}$'),
    raw_tx       bytea not null,  -- signed, to rebroadcast after a reorg
    vsize        integer not null check (vsize > 0),
    fee          bigint not null check (fee >= 0),
    state        text not null default 'pending' check (state in ('pending', 'confirmed', 'replaced')),
    block_hash   text check (block_hash ~ '^[0-9a-f]{64}$'),
    block_height bigint,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    check ((state = 'confirmed') = (block_hash is not null and block_height is not null))
);
create index ledger_anchors_live on ledger_anchors (id) where state <> 'replaced';

-- The anchor key's coins: outputs paying it, found by scanning blocks
-- (the operator's funding) or made by the anchors themselves (change).
-- spent_by is the anchor transaction that spends the coin.
create table ledger_anchor_coins (
    txid      text not null check (txid ~ '^[0-9a-f]{64}$'),
    vout      integer not null check (vout >= 0),
    value     bigint not null check (value > 0),
    pk_script bytea not null,
    spent_by  text,
    primary key (txid, vout)
);

-- How far the block scan for funding has gone (one row).
create table ledger_anchor_scan (
    one    boolean primary key default true check (one),
    height bigint not null
);
