-- Refused webhook deliveries are counted, not listed: anyone can post
-- unsigned or stale bodies to the webhook, and one row each would drown the
-- real failures. A refusal the server can attribute to its reason (unsigned,
-- bad signature, stale, too large, another API version, malformed, another
-- HTTP method) adds one to the row of its source, reason and hour, made by
-- the first of them; a correctly signed event that fails to apply keeps a row
-- of its own (hour null, count 1). Still only when, the status, the code and
-- the reason: never the body, the event id or the sender's address.
alter table webhook_failures
    add column reason  text not null default '',
    add column hour    timestamptz,
    add column count   bigint not null default 1,
    add column last_at timestamptz;
update webhook_failures set last_at = at;
alter table webhook_failures alter column last_at set not null, alter column last_at set default now();
create unique index webhook_failures_bucket on webhook_failures (source, reason, hour);
