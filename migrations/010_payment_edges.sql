-- Stripe events that named an order of this server but were not that order's
-- own payment (another method, another Checkout Session, another amount or
-- currency, the other mode of the key), and completed checkouts that name no
-- order of ours. They change nothing: each is acknowledged (so Stripe stops
-- retrying) and kept here as one exception for the operators. Only Stripe's
-- ids and the order id; never the event body.
create table stripe_mismatches (
    id        bigserial primary key,
    at        timestamptz not null default now(),
    event_id  text not null unique,
    type      text not null,
    order_id  text,
    stripe_id text not null default '',
    reason    text not null
);
create index stripe_mismatches_at on stripe_mismatches (at);

-- A Bitcoin order's link to its license entry is held, whatever the
-- retention, until every payment of the order is buried deep enough that a
-- reorg is no longer plausible (bitcoin.Config.ReorgDepth): until then a
-- reorg can still take the payment back, and suspending the license needs its
-- ledger index. The watcher clears hold once the payments are that deep.
alter table order_links add column hold boolean not null default false;
