-- A correctly signed Stripe event that does not decode (webhook_unreadable)
-- is answered 400, and Stripe retries a 400 for up to three days: one row
-- per delivery would list the same event dozens of times. Such a failure is
-- keyed on the event instead: its Stripe event id (or, for a signed body
-- without one, "sha256:" and the first 16 bytes of the body's SHA-256, see
-- payments.UnreadableEventKey), and every delivery adds one to the row's
-- count and moves last_at. Only these rows keep an event id (Stripe's, as
-- stripe_mismatches keeps it, so the operator can look the event up); the
-- counted refusals of anyone's junk still keep none, nor the body.
alter table webhook_failures add column event_id text;
create unique index webhook_failures_event on webhook_failures (source, event_id) where event_id is not null;

-- Whether a revoke entry was enqueued for the order's license (payments
-- sets it in the transaction that enqueues it). A revoked license whose
-- link the retention then erases was revoked on the ledger; only one revoked
-- without its link (revoke_enqueued false) is revoke_unreachable. Licenses
-- revoked while their link still exists had their entry enqueued then.
alter table orders add column revoke_enqueued boolean not null default false;
update orders o set revoke_enqueued = true
    where o.license_state = 'revoked' and exists (select 1 from order_links l where l.order_id = o.id);
