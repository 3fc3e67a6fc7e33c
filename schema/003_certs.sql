-- 003: managed certificates: CA profiles, ACME accounts, the certificates,
-- their orders (history and the state an interrupted order resumes from)
-- and the versions a renewal replaced.
-- Times are UTC seconds since the epoch.  Sealed columns hold
-- keystore_seal() blobs bound to their place by the AAD "table:id:column".

CREATE TABLE ca_profiles (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	name		TEXT NOT NULL UNIQUE,
	directory_url	TEXT NOT NULL,
	trust_file	TEXT,				-- NULL: the system trust store
	eab_kid		TEXT,
	eab_hmac_key	BLOB,				-- sealed: ca_profiles:<id>:eab_hmac_key
	eab_required	INTEGER NOT NULL DEFAULT 0 CHECK (eab_required IN (0, 1)),
	builtin		INTEGER NOT NULL DEFAULT 0 CHECK (builtin IN (0, 1)),
	created_at	INTEGER NOT NULL
);

INSERT INTO ca_profiles (name, directory_url, eab_required, builtin, created_at) VALUES
	('letsencrypt', 'https://acme-v02.api.letsencrypt.org/directory', 0, 1, CAST(strftime('%s', 'now') AS INTEGER)),
	('letsencrypt-staging', 'https://acme-staging-v02.api.letsencrypt.org/directory', 0, 1, CAST(strftime('%s', 'now') AS INTEGER)),
	('zerossl', 'https://acme.zerossl.com/v2/DV90', 1, 1, CAST(strftime('%s', 'now') AS INTEGER)),
	('google', 'https://dv.acme-v02.api.pki.goog/directory', 1, 1, CAST(strftime('%s', 'now') AS INTEGER));

-- One ACME account per profile and contact, created on first use.  The row
-- is inserted before the CA knows it (account_url NULL), so a crash between
-- the two never makes a second key for the same account.
CREATE TABLE acme_accounts (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	profile_id	INTEGER NOT NULL REFERENCES ca_profiles (id) ON DELETE CASCADE,
	email		TEXT NOT NULL DEFAULT '',	-- '' when no contact was given
	key		BLOB,				-- sealed ES256 PEM: acme_accounts:<id>:key
	account_url	TEXT,				-- NULL until registered
	tos_agreed_at	INTEGER,
	created_at	INTEGER NOT NULL,
	UNIQUE (profile_id, email)
);

CREATE TABLE certificates (
	id			INTEGER PRIMARY KEY AUTOINCREMENT,	-- ids never reused
	source			TEXT NOT NULL CHECK (source IN ('acme', 'import')),
	status			TEXT NOT NULL CHECK (status IN ('draft', 'pending',
				    'active', 'expired', 'error', 'revoked')),
	domain			TEXT NOT NULL,
	aliases			TEXT NOT NULL DEFAULT '[]',	-- JSON array of names
	profile_id		INTEGER REFERENCES ca_profiles (id),	-- NULL: import not renewed
	email			TEXT,
	tos_agreed_at		INTEGER,
	auto_renew_days		INTEGER NOT NULL DEFAULT 30,
	key_type		TEXT NOT NULL,
	label			TEXT UNIQUE,		-- CNAME target <label>.<techzone>; kept for life
	key			BLOB,			-- sealed PEM: certificates:<id>:key
	csr_pem			TEXT,
	chain_pem		TEXT,
	-- The current certificate's facts, named as for tracked certificates.
	cert_pem		TEXT,
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
	subject_alt_names	TEXT NOT NULL DEFAULT '[]',
	-- Failure and retry state lives here, not in memory, so a restart
	-- neither forgets a backoff nor storms the CA.
	last_error		TEXT,
	problem_type		TEXT,			-- the CA's problem type of last_error
	failures		INTEGER NOT NULL DEFAULT 0,	-- consecutive
	next_attempt_at		INTEGER,		-- the engine's next step (poll, order, retry)
	next_renewal_at		INTEGER,
	created_at		INTEGER NOT NULL,
	updated_at		INTEGER NOT NULL
);

CREATE INDEX certificates_due ON certificates (next_attempt_at)
	WHERE next_attempt_at IS NOT NULL;
CREATE INDEX certificates_renewal ON certificates (next_renewal_at)
	WHERE next_renewal_at IS NOT NULL;
CREATE INDEX certificates_by_status ON certificates (status, id);
CREATE INDEX certificates_by_profile ON certificates (profile_id);

-- Every order ever placed for a certificate.  A running order records the
-- step it reached and every URL the CA gave, so the engine resumes it after
-- a restart instead of placing a second one.
CREATE TABLE cert_orders (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	cert_id		INTEGER NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
	account_id	INTEGER REFERENCES acme_accounts (id) ON DELETE SET NULL,
	reason		TEXT NOT NULL,			-- issue, renew, forced
	step		TEXT NOT NULL,			-- the engine's step names
	status		TEXT NOT NULL CHECK (status IN ('running', 'valid',
			    'failed', 'cancelled')),
	order_url	TEXT,
	finalize_url	TEXT,
	cert_url	TEXT,
	authz		TEXT NOT NULL DEFAULT '[]',	-- JSON: per-name authz/challenge state
	key		BLOB,				-- a renewal's new key: cert_orders:<id>:key
	csr_pem		TEXT,
	problem_type	TEXT,
	problem_detail	TEXT,
	serial_number	TEXT,				-- of the certificate it produced
	started_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL,
	finished_at	INTEGER
);

CREATE INDEX cert_orders_by_cert ON cert_orders (cert_id, id);
-- At most one order in flight per certificate.
CREATE UNIQUE INDEX cert_orders_running ON cert_orders (cert_id)
	WHERE status = 'running';

-- Certificates a renewal or re-import replaced.  Their keys are not kept:
-- revoking an old certificate needs only the account key.
CREATE TABLE cert_versions (
	id			INTEGER PRIMARY KEY AUTOINCREMENT,
	cert_id			INTEGER NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
	replaced_at		INTEGER NOT NULL,
	serial_number		TEXT,
	fingerprint_sha256	TEXT,
	valid_from		INTEGER,
	valid_until		INTEGER,
	cert_pem		TEXT NOT NULL,
	chain_pem		TEXT
);

CREATE INDEX cert_versions_by_cert ON cert_versions (cert_id, id);
