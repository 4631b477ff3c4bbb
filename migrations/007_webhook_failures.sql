-- Webhook deliveries the server refused (package web, for the operators'
-- "failed webhooks" queue). Only when, the HTTP status and the error code:
-- never the body, the event id or the sender's address. Stripe retries a
-- refused delivery for up to three days, so a row is a reason to look, not
-- necessarily a lost event.
create table webhook_failures (
    id     bigserial primary key,
    at     timestamptz not null default now(),
    source text not null,
    status int not null,
    code   text not null
);
create index webhook_failures_at on webhook_failures (at);
