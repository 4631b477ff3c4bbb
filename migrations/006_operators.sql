-- Operators (package web, /ops). One operator password, many sessions.
-- A session is kept server side so logging out or restarting with another
-- password ends it for sure; only the SHA-256 of the cookie's token is
-- stored, so a database dump does not hand out sessions. No client address,
-- no user agent: the operator is not tracked either.
create table ops_sessions (
    token_hash bytea primary key check (length(token_hash) = 32),
    -- the CSRF token of every form of this session (random, not secret
    -- from the operator's own browser).
    csrf       text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);
create index ops_sessions_expires_at on ops_sessions (expires_at);

-- The audit log of operator actions: append only. session is a short,
-- non-reversible label of the session (the first bytes of its token hash) so
-- actions of one sitting can be grouped without storing anything about who.
create table ops_audit (
    id       bigserial primary key,
    at       timestamptz not null default now(),
    session  text not null,
    action   text not null,
    order_id text,
    detail   text not null default ''
);
create index ops_audit_at on ops_audit (at);
