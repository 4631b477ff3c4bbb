-- The public license ledger (package ledger). The log tables are
-- append-only: triggers refuse UPDATE, DELETE and TRUNCATE, so only a
-- superuser who disables them can change history, and `licensed ledger fsck`
-- and `license ledger verify` detect it.

-- One row per log entry: its index in the log, its canonical encoding, and
-- for a license entry its one-time key P (unique across the ledger).
create table ledger_entries (
    idx   bigint primary key check (idx >= 0),
    data  bytea not null check (length(data) between 2 and 65535),
    p     bytea unique check (p is null or length(p) = 32),
    round bigint not null
);

-- The stored hashes of the Merkle tree, by tlog.StoredHashIndex.
create table ledger_hashes (
    id   bigint primary key check (id >= 0),
    hash bytea not null check (length(hash) = 32)
);

-- Hash tiles of height 8 (C2SP tlog-tiles), by level, number and width: a
-- partial tile is kept once per width it was published at, so a served
-- tile never changes.
create table ledger_tiles (
    level int not null check (level between 0 and 63),
    n     bigint not null check (n >= 0),
    width int not null check (width between 1 and 256),
    data  bytea not null check (length(data) = 32 * width),
    primary key (level, n, width)
);

-- Every signed checkpoint, one per round.
create table ledger_checkpoints (
    size   bigint primary key check (size > 0),
    root   bytea not null check (length(root) = 32),
    note   bytea not null,
    round  bigint not null unique
);

-- Sequencer rounds: which indices each committed in one transaction.
create table ledger_rounds (
    round        bigint primary key check (round > 0),
    first_index  bigint not null unique,
    count        int not null check (count > 0),
    committed_at timestamptz not null
);

create function ledger_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'ledger: % on % refused: the ledger is append-only', tg_op, tg_table_name
        using errcode = 'insufficient_privilege';
end $$;

create trigger ledger_entries_append_only before update or delete on ledger_entries
    for each row execute function ledger_append_only();
create trigger ledger_hashes_append_only before update or delete on ledger_hashes
    for each row execute function ledger_append_only();
create trigger ledger_tiles_append_only before update or delete on ledger_tiles
    for each row execute function ledger_append_only();
create trigger ledger_checkpoints_append_only before update or delete on ledger_checkpoints
    for each row execute function ledger_append_only();
create trigger ledger_rounds_append_only before update or delete on ledger_rounds
    for each row execute function ledger_append_only();
create trigger ledger_entries_no_truncate before truncate on ledger_entries
    for each statement execute function ledger_append_only();
create trigger ledger_hashes_no_truncate before truncate on ledger_hashes
    for each statement execute function ledger_append_only();
create trigger ledger_tiles_no_truncate before truncate on ledger_tiles
    for each statement execute function ledger_append_only();
create trigger ledger_checkpoints_no_truncate before truncate on ledger_checkpoints
    for each statement execute function ledger_append_only();
create trigger ledger_rounds_no_truncate before truncate on ledger_rounds
    for each statement execute function ledger_append_only();

-- Entries waiting for the next round. ref is the caller's idempotency key
-- (e.g. "mint:<order id>"); a row lives only until its round commits.
create table ledger_pending (
    seq         bigint generated always as identity primary key,
    ref         text not null unique,
    data        bytea not null,
    p           bytea unique,
    enqueued_at timestamptz not null default now()
);

-- Results for ledger.Append's own random refs, read and deleted by the
-- waiting caller. Refs of other callers are never recorded here.
create table ledger_append_results (
    ref text primary key,
    idx bigint not null
);

-- Open disputes suspend a license without a ledger entry (written by
-- payments through ledger.Suspend and ledger.Unsuspend).
create table license_suspensions (
    ledger_index bigint primary key,
    since        timestamptz not null
);
