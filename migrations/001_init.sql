-- The instance row records when this database was first migrated; it lets
-- operators tell a fresh database from a restored one.
create table instance (
    id         int primary key default 1 check (id = 1),
    created_at timestamptz not null default now()
);
insert into instance default values;
