-- The suspension feed (package ledger, suspension.go): the public, signed,
-- append-only record of suspensions and their lifting, which relays'
-- mirrors sync.
--
-- pgledger.Suspend and Unsuspend queue a change here in the caller's
-- transaction, without a lock (payments transactions lock order rows and
-- must not wait on the feed); the sequencer (one process) moves the
-- committed changes into the feed in id order. A change's id is drawn
-- when its row is inserted, and an Unsuspend only finds a committed
-- suspension, so the changes of one license are in causal order by id.
create table suspension_changes (
    id           bigserial primary key,
    ledger_index bigint not null check (ledger_index >= 0),
    suspended    boolean not null,
    at           timestamptz not null default now()
);

-- The feed: entry seq (17 bytes) and the chain head after it.
create table suspension_feed (
    seq   bigint primary key check (seq >= 0),
    entry bytea not null check (length(entry) = 17),
    head  bytea not null check (length(head) = 32)
);

-- The signed checkpoint of every size the feed had.
create table suspension_checkpoints (
    size bigint primary key check (size >= 0),
    head bytea not null check (length(head) = 32),
    note bytea not null
);

create trigger suspension_feed_append_only before update or delete on suspension_feed
    for each row execute function ledger_append_only();
create trigger suspension_checkpoints_append_only before update or delete on suspension_checkpoints
    for each row execute function ledger_append_only();
create trigger suspension_feed_no_truncate before truncate on suspension_feed
    for each statement execute function ledger_append_only();
create trigger suspension_checkpoints_no_truncate before truncate on suspension_checkpoints
    for each statement execute function ledger_append_only();

-- The suspensions already in force start the feed.
insert into suspension_changes (ledger_index, suspended, at)
    select ledger_index, true, since from license_suspensions where ledger_index >= 0 order by since, ledger_index;
