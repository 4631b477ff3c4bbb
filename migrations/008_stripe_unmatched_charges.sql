-- Refunds and disputes whose PaymentIntent no order holds yet: Stripe does
-- not order its events, so a charge event can come before the checkout event
-- that tells which order the PaymentIntent paid. What they decided is kept
-- here and applied when that checkout event arrives; rows older than 30 days
-- (past Stripe's 3 days of retries) are deleted. Only Stripe ids are kept.
create table stripe_unmatched_charges (
    payment_intent text primary key,
    refunded       boolean not null default false,
    dispute        text check (dispute in ('open', 'won', 'lost')),
    received_at    timestamptz not null default now()
);
