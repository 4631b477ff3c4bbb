-- The network-wide tag registry (package ledger/admission, "The tag
-- registry"). Relays that verify proofs themselves register each tag they
-- admit; the server does not verify a registration unless another use of
-- the same key conflicts with it, so it keeps the registration's proof
-- (the message, the ring's ledger indices and the signature: what a relay
-- already has and every block carries) until then. NULL: the use was
-- verified by this server (POST /v1/admit, or a conflict decided). Rows
-- are pruned with their day, as before.
alter table admission_tags add column proof bytea check (proof is null or length(proof) <= 40000);
