-- 008: events as a product.  Each event gains a severity, the subject it is
-- about and the facts a receiver needs (data, a JSON object); expiry warnings
-- get a due index of their own (a PEM item is never re-fetched, so the check
-- schedule cannot drive them); notification sinks and the outbox of their
-- deliveries, written in the same transaction as the event they carry.

ALTER TABLE events ADD COLUMN severity TEXT NOT NULL DEFAULT 'info'
	CHECK (severity IN ('info', 'warning', 'critical'));
ALTER TABLE events ADD COLUMN subject_type TEXT
	CHECK (subject_type IN ('tracked', 'certificate', 'ca', 'domain', 'sink'));
ALTER TABLE events ADD COLUMN subject_id INTEGER;
ALTER TABLE events ADD COLUMN data TEXT NOT NULL DEFAULT '{}';

UPDATE events SET subject_type = 'tracked', subject_id = item_id
	WHERE item_id IS NOT NULL;
UPDATE events SET severity = 'warning' WHERE kind IN ('check_failed', 'cert_error');
UPDATE events SET severity = 'critical' WHERE kind = 'cert_expired';

CREATE INDEX events_by_subject ON events (subject_type, subject_id, id)
	WHERE subject_type IS NOT NULL;
CREATE INDEX events_by_kind ON events (kind, id);

-- One row per certificate certfleet knows (tracked by PEM or host, managed)
-- while it has one.  warned_days and expired_at belong to the fingerprint:
-- a new certificate starts afresh.  due_at is the next threshold crossing.
CREATE TABLE expiry (
	subject_type	TEXT NOT NULL CHECK (subject_type IN ('tracked', 'certificate')),
	subject_id	INTEGER NOT NULL,
	fingerprint	TEXT NOT NULL,
	valid_from	INTEGER NOT NULL,
	valid_until	INTEGER NOT NULL,
	warned_days	INTEGER,	-- the lowest threshold warned for, NULL: none
	expired_at	INTEGER,	-- when `expired` was recorded
	overdue_at	INTEGER,	-- when `renewal_overdue` was recorded
	due_at		INTEGER,	-- NULL: nothing left to say
	PRIMARY KEY (subject_type, subject_id)
) WITHOUT ROWID;

CREATE INDEX expiry_due ON expiry (due_at) WHERE due_at IS NOT NULL;

-- What is known today is looked at once at the next start: a certificate
-- already below thresholds gets one warning, for the lowest of them.
INSERT INTO expiry (subject_type, subject_id, fingerprint, valid_from,
		valid_until, due_at)
	SELECT 'tracked', id, fingerprint_sha256, valid_from, valid_until, 0
	FROM tracked WHERE fingerprint_sha256 IS NOT NULL
		AND valid_from IS NOT NULL AND valid_until IS NOT NULL;
INSERT INTO expiry (subject_type, subject_id, fingerprint, valid_from,
		valid_until, due_at)
	SELECT 'certificate', id, fingerprint_sha256, valid_from, valid_until, 0
	FROM certificates WHERE fingerprint_sha256 IS NOT NULL
		AND valid_from IS NOT NULL AND valid_until IS NOT NULL;

-- Where events go.  Secrets (a webhook's signing key, an SMTP password) are
-- sealed by the keystore, bound to sinks:<id>:secret.
CREATE TABLE sinks (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	name		TEXT NOT NULL UNIQUE,
	type		TEXT NOT NULL CHECK (type IN ('webhook', 'email', 'exec')),
	target		TEXT NOT NULL,	-- URL, recipients (a,b), or command
	format		TEXT NOT NULL DEFAULT 'json' CHECK (format IN ('json', 'slack')),
	secret		BLOB,
	smtp_url	TEXT,
	smtp_user	TEXT,
	mail_from	TEXT,
	smtp_insecure	INTEGER NOT NULL DEFAULT 0,
	smtp_ca_file	TEXT,		-- trust for the SMTP server; NULL: system
	kinds		TEXT,		-- ",a,b," (for LIKE), NULL: every kind
	min_severity	INTEGER NOT NULL DEFAULT 0 CHECK (min_severity IN (0, 1, 2)),
	timeout		INTEGER NOT NULL,
	enabled		INTEGER NOT NULL DEFAULT 1,
	disabled_reason	TEXT,
	delivered	INTEGER NOT NULL DEFAULT 0,
	failed		INTEGER NOT NULL DEFAULT 0,	-- attempts that failed
	last_delivered_at INTEGER,
	last_error	TEXT,
	created_at	INTEGER NOT NULL
);

-- The outbox: one row per event a sink wants, until it is delivered (then
-- deleted; the sink counts it) or given up (kept, for `notify retry`).
CREATE TABLE deliveries (
	id		INTEGER PRIMARY KEY,
	event_id	INTEGER NOT NULL,
	sink_id		INTEGER NOT NULL REFERENCES sinks (id) ON DELETE CASCADE,
	attempts	INTEGER NOT NULL DEFAULT 0,
	next_at		INTEGER,	-- NULL: given up
	created_at	INTEGER NOT NULL,
	last_error	TEXT,
	UNIQUE (sink_id, event_id)
);

CREATE INDEX deliveries_due ON deliveries (next_at) WHERE next_at IS NOT NULL;
CREATE INDEX deliveries_by_sink ON deliveries (sink_id, next_at);
