SET application_name = 'limen-wire-fixture';
CREATE TEMP TABLE people (id int PRIMARY KEY, email text, card text, note text);
INSERT INTO people VALUES (1, 'ada@example.com', '4111111111111111', NULL), (2, 'bob@example.org', NULL, 'hello, world');
SELECT id, email, card, note FROM people ORDER BY id;
SELECT 1 AS a, NULL::text AS b, 'x'::bytea AS c \gx
DO $$ BEGIN RAISE NOTICE 'a notice from the fixture'; END $$;
SELECT * FROM no_such_table;
BEGIN;
SELECT 1/0;
ROLLBACK;
LISTEN fixture_channel;
NOTIFY fixture_channel, 'payload';
COPY people (id, email) FROM STDIN;
3	carol@example.net
4	dan@example.net
\.
COPY people TO STDOUT WITH (FORMAT csv);
SELECT count(*) FROM people;
SELECT g, md5(g::text) AS h, NULL AS n FROM generate_series(1, 200) g;
