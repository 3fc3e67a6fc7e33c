-- 001: tracked certificates and the activity feed.
-- Times are UTC seconds since the epoch; RFC 3339 only at the edges.

CREATE TABLE tracked (
	id			INTEGER PRIMARY KEY AUTOINCREMENT,	-- ids never reused: events name them
	source			TEXT NOT NULL CHECK (source IN ('pem', 'host')),
	active			INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
	check_error		TEXT,
	pem			TEXT,
	common_name		TEXT,
	issued_by		TEXT,
	issuer			TEXT,
	subject			TEXT,
	organization		TEXT,
	organizational_unit	TEXT,
	location		TEXT,
	serial_number		TEXT,
	signature_algorithm	TEXT,
	public_key		TEXT,
	fingerprint_sha256	TEXT,
	valid_from		INTEGER,
	valid_until		INTEGER,
	subject_alt_names	TEXT NOT NULL DEFAULT '[]',	-- JSON array of strings
	created_at		INTEGER NOT NULL,
	last_checked_at		INTEGER,
	next_check_at		INTEGER
);

-- Due work comes from this index, never from a scan.
CREATE INDEX tracked_due ON tracked (next_check_at) WHERE next_check_at IS NOT NULL;

-- One row per distinct pasted certificate.
CREATE UNIQUE INDEX tracked_pem_fingerprint ON tracked (fingerprint_sha256)
	WHERE source = 'pem';

-- The activity feed outlives the items it talks about: no foreign key.
CREATE TABLE events (
	id		INTEGER PRIMARY KEY,
	at		INTEGER NOT NULL,
	item_id		INTEGER,
	kind		TEXT NOT NULL,
	message		TEXT NOT NULL
);

CREATE INDEX events_by_item ON events (item_id, id);
