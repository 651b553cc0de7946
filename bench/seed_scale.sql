-- Seeds a Bürgerkonto PostgreSQL database to a Land's scale (bench/scale.sh):
--   :accounts accounts (seed-N@example.invalid, the bench user's password hash, each with a
--   pairwise subject), :clients portals and systems of the bench tenant, and :messages
--   mailbox messages spread over the seeded accounts, sent by the bench authority system.
-- Content of seeded messages is opaque bytes of the real sizes (they are never opened); the
-- bench citizen's own messages are real. Evidence events are not seeded (one index more).
-- usage: psql -v accounts=1000000 -v clients=100000 -v messages=10000000 -v tenant=UUID
--        -v authority=CLIENT_ID -v hash_from=bench@example.org -f bench/seed_scale.sql
\set ON_ERROR_STOP on
SET synchronous_commit = off;

INSERT INTO accounts (id, email, password_hash, email_verified, proofing_level, created_at, updated_at)
SELECT gen_random_uuid(), 'seed-' || i || '@example.invalid',
       (SELECT password_hash FROM accounts WHERE email = :'hash_from'),
       true, (ARRAY['low', 'low', 'low', 'substantial'])[1 + i % 4], now(), now()
FROM generate_series(1, :accounts) AS i;

INSERT INTO subjects (sector, sub, account_id)
SELECT 'tenant:' || :'tenant', encode(sha256(a.id::text::bytea), 'hex'), a.id
FROM accounts a WHERE a.email LIKE 'seed-%';

INSERT INTO clients (id, tenant_id, name, secret_hash, redirect_uris, post_logout_redirect_uris,
                     grant_types, scopes, subject_type, id_token_alg, created_at)
SELECT 'seed' || lpad(i::text, 18, '0'), :'tenant'::uuid, 'Portal ' || i,
       sha256(('secret' || i)::bytea), jsonb_build_array('https://portal' || i || '.example/cb'),
       '[]'::jsonb, '["authorization_code"]'::jsonb, '["openid", "email"]'::jsonb,
       'pairwise', 'RS256', now()
FROM generate_series(1, :clients) AS i;

-- Messages in batches of a million, each to a random seeded account (an array lookup).
CREATE TEMP TABLE seed_accounts AS
  SELECT row_number() OVER () AS n, id FROM accounts WHERE email LIKE 'seed-%';
CREATE INDEX ON seed_accounts (n);
ANALYZE seed_accounts;
-- psql does not substitute variables inside the DO block: they travel as settings.
SELECT set_config('seed.messages', :'messages', false), set_config('seed.authority', :'authority', false),
       set_config('seed.tenant', :'tenant', false),
       set_config('seed.accounts', (SELECT count(*) FROM seed_accounts)::text, false);
DO $$
DECLARE
  total bigint := current_setting('seed.messages')::bigint;
  n_accounts bigint := current_setting('seed.accounts')::bigint;
  authority text := current_setting('seed.authority');
  tenant uuid := current_setting('seed.tenant')::uuid;
  done bigint := 0;
  step bigint;
BEGIN
  WHILE done < total LOOP
    step := least(1000000, total - done);
    INSERT INTO mailbox_messages (id, sender_client_id, sender_tenant_id, account_id, recipient_sub,
        required_level, reply_allowed, created_at, state, opened_at, notified_at, key_id,
        wrapped_key, subject, body)
    SELECT gen_random_uuid(), authority, tenant, s.id, 'seeded',
           'low', true, now() - (i % 86400) * interval '1 minute', 'notified',
           CASE WHEN i % 3 = 0 THEN NULL ELSE now() END, now(), 'seed',
           decode(repeat('ab', 40), 'hex'), decode(repeat('cd', 60), 'hex'),
           decode(repeat(md5(i::text), 32), 'hex')
    FROM generate_series(done + 1, done + step) AS i
    JOIN seed_accounts s ON s.n = 1 + (hashint8(i) & 2147483647) % n_accounts;
    done := done + step;
    RAISE NOTICE 'messages: %', done;
    COMMIT;
  END LOOP;
END $$;
ANALYZE;
