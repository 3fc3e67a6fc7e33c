-- 006: the tech zone's TXT records (ACME DNS-01 challenge values), kept in
-- the database so a restart in the middle of a validation still answers.
-- (003 and 005 are other branches' migrations: a number below one already
-- applied anywhere would be skipped, so this one takes the next free number.)

CREATE TABLE techzone_records (
	id		INTEGER PRIMARY KEY,
	owner		TEXT NOT NULL,		-- lowercase, no final dot
	-- owner's labels in reverse order ("test.acme.k3x9"), so the names
	-- below a name are one index range: the empty non-terminal question.
	owner_rev	TEXT NOT NULL,
	value		TEXT NOT NULL,
	-- the managed certificate it belongs to; no foreign key, that table
	-- is another migration's
	cert_id		INTEGER NOT NULL,
	created_at	INTEGER NOT NULL,
	UNIQUE (owner, value)
);

CREATE INDEX techzone_records_by_rev ON techzone_records (owner_rev);
CREATE INDEX techzone_records_by_cert ON techzone_records (cert_id);

-- The zone's SOA serial: bumped by every change to the records, whoever
-- makes it, so secondaries and caches that look at it see a change.
CREATE TABLE techzone_serial (
	serial		INTEGER NOT NULL
);
INSERT INTO techzone_serial (serial) VALUES (1);

CREATE TRIGGER techzone_records_added AFTER INSERT ON techzone_records
BEGIN
	UPDATE techzone_serial SET serial = (serial % 4294967295) + 1;
END;

CREATE TRIGGER techzone_records_removed AFTER DELETE ON techzone_records
BEGIN
	UPDATE techzone_serial SET serial = (serial % 4294967295) + 1;
END;
