-- Witnessed checkpoints (package ledger/cosigning).
--
-- A new ledger starts with a signed checkpoint of size 0 (round 0, which
-- has no ledger_rounds row), so that witnesses, mirrors and clients can
-- start from the beginning.
alter table ledger_checkpoints drop constraint ledger_checkpoints_size_check;
alter table ledger_checkpoints add constraint ledger_checkpoints_size_check check (size >= 0);
alter table ledger_checkpoints add constraint ledger_checkpoints_empty_root
    check (size > 0 or (round = 0 and root = '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'::bytea));

-- The cosignatures witnesses returned for a checkpoint (C2SP
-- tlog-cosignature), each checked against the witness's key before it is
-- stored. line is the signature line exactly as the witness sent it
-- ("— <name> <base64>\n"); /ledger/checkpoint appends these lines to the
-- checkpoint's note. Append-only, like the log.
create table ledger_cosignatures (
    size        bigint not null references ledger_checkpoints (size),
    key_name    text not null,
    key_id      bigint not null check (key_id between 0 and 4294967295),
    signed_at   timestamptz not null,
    line        text not null check (line like '— %'),
    received_at timestamptz not null default now(),
    primary key (size, key_name, key_id)
);

create trigger ledger_cosignatures_append_only before update or delete on ledger_cosignatures
    for each row execute function ledger_append_only();
create trigger ledger_cosignatures_no_truncate before truncate on ledger_cosignatures
    for each statement execute function ledger_append_only();
