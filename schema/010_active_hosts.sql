-- Track.CheckAll reads the active host items in id order.  Without an index
-- of its own that is a scan of every row: 145 ms with a million PEM and
-- inactive items, all of it one stall of the loop (tests/bench/metrics).
-- A partial index holds only the rows the query wants.
CREATE INDEX tracked_active_hosts ON tracked (id)
	WHERE source = 'host' AND active = 1;
