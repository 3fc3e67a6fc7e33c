-- 009: deploy targets, where a managed certificate's files go.  A target is
-- due (next_attempt_at) after every issuance and renewal, set in the same
-- transaction; deployed_fingerprint is written only once its files and its
-- reload succeeded, so a crash means the next start deploys again.
CREATE TABLE deploy_targets (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	cert_id		INTEGER NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
	dir		TEXT NOT NULL,
	owner		TEXT,			-- as given: user[:group]
	uid		INTEGER NOT NULL DEFAULT -1,	-- -1: unchanged
	gid		INTEGER NOT NULL DEFAULT -1,
	key_mode	INTEGER NOT NULL,
	cert_mode	INTEGER NOT NULL,
	combined	INTEGER NOT NULL DEFAULT 0,
	reload		TEXT,
	timeout		INTEGER NOT NULL,
	state		TEXT NOT NULL DEFAULT 'pending'
			CHECK (state IN ('pending', 'ok', 'failed')),
	deployed_fingerprint TEXT,
	deployed_at	INTEGER,
	last_error	TEXT,
	failures	INTEGER NOT NULL DEFAULT 0,
	next_attempt_at	INTEGER,
	created_at	INTEGER NOT NULL,
	UNIQUE (cert_id, dir)
);

CREATE INDEX deploy_due ON deploy_targets (next_attempt_at)
	WHERE next_attempt_at IS NOT NULL;
