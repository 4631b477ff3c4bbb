-- The suspension feed (package ledger, suspension.go): the public, signed,
-- append-only record of suspensions and their lifting, which relays'
-- mirrors sync.
--
-- Every insert into and delete from license_suspensions queues a change here
-- in the same transaction (a trigger: whoever writes the table, pgledger's
-- Suspend and Unsuspend, an older process during a rolling deploy, or an
-- operator's SQL), without a lock (payments transactions lock order rows and
-- must not wait on the feed); the sequencer (one process) moves the
-- committed changes into the feed in id order. A change's id is drawn
-- when its row is inserted, and a delete only finds a committed
-- suspension, so the changes of one license are in causal order by id.
create table suspension_changes (
    id           bigserial primary key,
    ledger_index bigint not null check (ledger_index >= 0),
    suspended    boolean not null,
    at           timestamptz not null default now()
);

create function suspension_change() returns trigger language plpgsql as $$
begin
    if coalesce(new.ledger_index, old.ledger_index) < 0 then
        return null;
    end if;
    if tg_op = 'INSERT' then
        insert into suspension_changes (ledger_index, suspended) values (new.ledger_index, true);
        return null;
    end if;
    -- A suspension lifted in the transaction that made it was never in a
    -- committed state: withdraw its queued change instead of publishing a
    -- suspension and a lift nobody could have been refused by.
    delete from suspension_changes
        where ledger_index = old.ledger_index and suspended
            and xmin::text::bigint = txid_current() % 4294967296;
    if not found then
        insert into suspension_changes (ledger_index, suspended) values (old.ledger_index, false);
    end if;
    return null;
end $$;

create trigger license_suspensions_feed after insert or delete on license_suspensions
    for each row execute function suspension_change();
create trigger license_suspensions_no_update before update or truncate on license_suspensions
    for each statement execute function ledger_append_only();

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
