-- 005: Daemon.Status reads its counts from one row kept by triggers, so a
-- monitoring poll costs the same with a million items as with ten (a
-- count(*) over tracked and events grows with them, and blocks the loop).

CREATE TABLE counts (
	id		INTEGER PRIMARY KEY CHECK (id = 1),
	tracked		INTEGER NOT NULL,
	active		INTEGER NOT NULL,
	pem		INTEGER NOT NULL,
	host		INTEGER NOT NULL,
	events		INTEGER NOT NULL
);

INSERT INTO counts (id, tracked, active, pem, host, events)
	SELECT 1, count(*), coalesce(sum(active), 0),
		coalesce(sum(source = 'pem'), 0), coalesce(sum(source = 'host'), 0),
		(SELECT count(*) FROM events)
	FROM tracked;

CREATE TRIGGER counts_tracked_insert AFTER INSERT ON tracked BEGIN
	UPDATE counts SET tracked = tracked + 1, active = active + NEW.active,
		pem = pem + (NEW.source = 'pem'), host = host + (NEW.source = 'host')
	WHERE id = 1;
END;

CREATE TRIGGER counts_tracked_delete AFTER DELETE ON tracked BEGIN
	UPDATE counts SET tracked = tracked - 1, active = active - OLD.active,
		pem = pem - (OLD.source = 'pem'), host = host - (OLD.source = 'host')
	WHERE id = 1;
END;

CREATE TRIGGER counts_tracked_update AFTER UPDATE OF active, source ON tracked
	WHEN NEW.active IS NOT OLD.active OR NEW.source IS NOT OLD.source
BEGIN
	UPDATE counts SET active = active + NEW.active - OLD.active,
		pem = pem + (NEW.source = 'pem') - (OLD.source = 'pem'),
		host = host + (NEW.source = 'host') - (OLD.source = 'host')
	WHERE id = 1;
END;

CREATE TRIGGER counts_events_insert AFTER INSERT ON events BEGIN
	UPDATE counts SET events = events + 1 WHERE id = 1;
END;

CREATE TRIGGER counts_events_delete AFTER DELETE ON events BEGIN
	UPDATE counts SET events = events - 1 WHERE id = 1;
END;
