-- Admission (package ledger/admission). One row per tag used in a scope: the
-- scope, the counter, the tag and a SHA-256 of the admitted message, nothing
-- else. No timestamp (the scope already names the day), no client address,
-- no ring, no plan: a row can be compared with a relay's blocks only through
-- the message hash, which the relay already has.
--
-- The primary key makes the first use of a tag win across every server
-- process: INSERT … ON CONFLICT DO NOTHING, then compare the stored hash.
-- day (the scope's UTC day) lets old scopes be pruned; a scope outside the
-- clock-skew window is refused before its tag is ever looked up.
create table admission_tags (
    scope    text   not null,
    counter  bigint not null check (counter >= 0 and counter <= 4294967295),
    tag      bytea  not null check (length(tag) = 32),
    msg_hash bytea  not null check (length(msg_hash) = 32),
    day      date   not null,
    primary key (scope, counter, tag)
);
create index admission_tags_day on admission_tags (day);

-- Free-tier admissions (no ring proof, a stricter proof of work): one row per
-- (scope, message), so a replayed proof of work admits nothing new.
create table admission_free (
    scope    text  not null,
    msg_hash bytea not null check (length(msg_hash) = 32),
    day      date  not null,
    primary key (scope, msg_hash)
);
create index admission_free_day on admission_free (day);
