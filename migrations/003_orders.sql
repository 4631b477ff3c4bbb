-- Orders (package payments). An order keeps what payment and minting need and
-- nothing that names a customer: no email, no name, no IP. The license
-- address is erased in the sequencer round that commits the order's license
-- entry; the exact order → ledger index link lives in order_links and is
-- erased after the retention; mint_round (order → round) stays forever so
-- reconciliation can compare settled orders and license entries per round.
create table orders (
    id                    text primary key,
    plan                  text not null,
    method                text not null,
    amount                bigint not null check (amount >= 0),
    currency              text not null,
    state                 text not null default 'new'
                          check (state in ('new', 'processing', 'settled', 'expired', 'invalid')),
    flags                 int not null default 0,
    -- null until the order first settles (no license yet).
    license_state         text check (license_state in ('active', 'suspended', 'revoked')),
    -- why the license is suspended: 'dispute' or 'reorg'.
    suspended_for         text,
    address               text,
    mint_round            bigint,
    stripe_session        text,
    stripe_payment_intent text,
    refunded              boolean not null default false,
    dispute               text check (dispute in ('open', 'won', 'lost')),
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now(),
    settled_at            timestamptz
);
create index orders_state on orders (state);
create index orders_mint_round on orders (mint_round) where mint_round is not null;
create index orders_payment_intent on orders (stripe_payment_intent) where stripe_payment_intent is not null;

-- The exact order → license entry link, kept only while a refund or dispute
-- can still revoke the license.
create table order_links (
    order_id     text primary key references orders (id),
    ledger_index bigint not null unique,
    forget_after timestamptz not null
);
create index order_links_forget_after on order_links (forget_after);

-- Every state change of every order, for operators (no customer data).
create table order_events (
    id         bigserial primary key,
    order_id   text not null references orders (id),
    at         timestamptz not null default now(),
    from_state text not null,
    to_state   text not null,
    flags      int not null,
    reason     text not null
);
create index order_events_order on order_events (order_id);

-- Stripe event ids already handled, recorded in the same transaction as the
-- change they caused, so a redelivered event changes nothing.
create table stripe_events (
    id          text primary key,
    type        text not null,
    received_at timestamptz not null default now()
);
create index stripe_events_received_at on stripe_events (received_at);
