-- 002: items fetched from hosts: probe results, schedule state, and a raw
-- copy of the presented chain each time it changes.

ALTER TABLE tracked ADD COLUMN host TEXT;
ALTER TABLE tracked ADD COLUMN port INTEGER;
ALTER TABLE tracked ADD COLUMN sni TEXT;
ALTER TABLE tracked ADD COLUMN address TEXT;		-- the address that answered
ALTER TABLE tracked ADD COLUMN tls_version TEXT;
ALTER TABLE tracked ADD COLUMN cipher TEXT;
ALTER TABLE tracked ADD COLUMN chain_valid INTEGER;
ALTER TABLE tracked ADD COLUMN hostname_match INTEGER;
ALTER TABLE tracked ADD COLUMN verify_error TEXT;
ALTER TABLE tracked ADD COLUMN chain_length INTEGER;
ALTER TABLE tracked ADD COLUMN chain_sha256 TEXT;
ALTER TABLE tracked ADD COLUMN check_failures INTEGER NOT NULL DEFAULT 0;

-- One item per target: importing a tracked target updates it.
CREATE UNIQUE INDEX tracked_host_target ON tracked (host, port, coalesce(sni, ''))
	WHERE source = 'host';

CREATE TABLE snapshots (
	id		INTEGER PRIMARY KEY,
	item_id		INTEGER NOT NULL,
	at		INTEGER NOT NULL,
	chain_sha256	TEXT NOT NULL,
	leaf_sha256	TEXT,
	chain_length	INTEGER NOT NULL,
	chain_pem	TEXT NOT NULL
);

CREATE INDEX snapshots_by_item ON snapshots (item_id, id);
