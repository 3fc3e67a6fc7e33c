-- 007: the ACME profile (the CA's "profiles" extension, e.g. Let's Encrypt's
-- "classic", "tlsserver", "shortlived") a CA profile asks for in each new
-- order.  NULL: none, the CA's default.
ALTER TABLE ca_profiles ADD COLUMN acme_profile TEXT;
