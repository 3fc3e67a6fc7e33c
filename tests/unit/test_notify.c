/*
 * Unit tests for notify.c's pure parts: the Standard Webhooks signature
 * (the specification's own example) and the whsec_ secret form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "notify.h"

static void
test_sign_spec_example(void **state)
{
	unsigned char key[64];
	size_t keylen;
	const char *body = "{\"test\": 2432232314}";
	char sig[128];

	(void)state;
	assert_int_equal(notify_secret_parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2L"
	    "aLaSw", key, sizeof(key), &keylen), 0);
	assert_int_equal(keylen, 24);
	assert_int_equal(notify_sign(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek",
	    1614265330, body, strlen(body), sig, sizeof(sig)), 0);
	assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	/* One byte of the body changed: another signature. */
	assert_int_equal(notify_sign(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek",
	    1614265330, "{\"test\": 2432232315}", strlen(body), sig,
	    sizeof(sig)), 0);
	assert_string_not_equal(sig,
	    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

static void
test_secret_forms(void **state)
{
	static const char *const bad[] = {
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",	/* no prefix */
		"whsec_",				/* empty */
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",	/* not 4n */
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa!w",	/* not base64 */
		"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAA=",	/* 20 bytes: short */
		"whsec_=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",	/* '=' inside */
	};
	unsigned char key[64];
	size_t keylen;
	char big[200] = "whsec_";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(notify_secret_parse(bad[i], key, sizeof(key),
		    &keylen), -1);
	/* 32 bytes, with padding. */
	assert_int_equal(notify_secret_parse("whsec_AAECAwQFBgcICQoLDA0ODxAREh"
	    "MUFRYXGBkaGxwdHh8=", key, sizeof(key), &keylen), 0);
	assert_int_equal(keylen, 32);
	assert_int_equal(key[31], 31);
	assert_int_equal(notify_secret_parse("whsec_AAECAwQFBgcICQoLDA0ODxAREh"
	    "MUFRYXGBkaGxwdHh8g", key, sizeof(key), &keylen), 0);
	assert_int_equal(keylen, 33);
	assert_int_equal(key[32], 32);
	/* Over 64 bytes. */
	for (size_t i = 0; i < 92; i++)
		strcat(big, "A");
	assert_int_equal(notify_secret_parse(big, key, sizeof(key), &keylen),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_spec_example),
		cmocka_unit_test(test_secret_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
