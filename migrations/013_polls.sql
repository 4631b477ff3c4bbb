-- Polls (package ledger/poll; stored by ledger/poll/pgpoll). Each poll is
-- its own C2SP transparency log: leaf 0 is the poll's definition, leaves
-- 1, 2, … its ballots in the order they were accepted. Everything here is
-- append-only, like the ledger: a poll's definition never changes once
-- created, and a ballot is never replaced or removed.
--
-- Nothing here says which license cast a ballot, nor when: a ballot row
-- holds only what its public leaf holds.

create table polls (
    id         text primary key check (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    definition bytea not null check (length(definition) between 1 and 65535),
    hash       bytea not null unique check (length(hash) = 32),
    opens      timestamptz not null,
    closes     timestamptz not null check (closes > opens)
);

-- The leaves of each poll's log. tag and option are copies of the
-- ballot's tag and option (null for leaf 0): tag unique per poll is the
-- one-vote rule, option feeds the tally.
create table poll_leaves (
    poll_id text not null references polls (id),
    idx     bigint not null check (idx >= 0),
    leaf    bytea not null check (length(leaf) between 1 and 65535),
    tag     bytea check (tag is null or length(tag) = 32),
    option  smallint check (option is null or option between 0 and 63),
    primary key (poll_id, idx),
    unique (poll_id, tag),
    check ((idx = 0) = (tag is null) and (idx = 0) = (option is null))
);

-- The stored hashes of each poll's Merkle tree, by tlog.StoredHashIndex.
create table poll_hashes (
    poll_id text not null references polls (id),
    id      bigint not null check (id >= 0),
    hash    bytea not null check (length(hash) = 32),
    primary key (poll_id, id)
);

-- Every signed checkpoint of each poll's log (a C2SP signed note whose
-- origin is "<ledger key name>/poll/<id>").
create table poll_checkpoints (
    poll_id text not null references polls (id),
    size    bigint not null check (size > 0),
    root    bytea not null check (length(root) = 32),
    note    bytea not null,
    primary key (poll_id, size)
);

create trigger polls_append_only before update or delete on polls
    for each row execute function ledger_append_only();
create trigger poll_leaves_append_only before update or delete on poll_leaves
    for each row execute function ledger_append_only();
create trigger poll_hashes_append_only before update or delete on poll_hashes
    for each row execute function ledger_append_only();
create trigger poll_checkpoints_append_only before update or delete on poll_checkpoints
    for each row execute function ledger_append_only();
create trigger polls_no_truncate before truncate on polls
    for each statement execute function ledger_append_only();
create trigger poll_leaves_no_truncate before truncate on poll_leaves
    for each statement execute function ledger_append_only();
create trigger poll_hashes_no_truncate before truncate on poll_hashes
    for each statement execute function ledger_append_only();
create trigger poll_checkpoints_no_truncate before truncate on poll_checkpoints
    for each statement execute function ledger_append_only();
