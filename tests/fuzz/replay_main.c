/*
 * Replays fuzz corpus files through a fuzz target without libFuzzer, so
 * `make check` runs every saved input under whatever sanitizers the build has.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		FILE *fp = fopen(argv[i], "rb");
		uint8_t *buf;
		long n;

		if (fp == NULL || fseek(fp, 0, SEEK_END) == -1 ||
		    (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) == -1 ||
		    (buf = malloc(n ? n : 1)) == NULL ||
		    fread(buf, 1, n, fp) != (size_t)n) {
			fprintf(stderr, "replay: cannot read %s\n", argv[i]);
			failed = 1;
			if (fp)
				fclose(fp);
			continue;
		}
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, n);
		free(buf);
	}
	printf("replayed %d inputs\n", argc - 1);
	return failed;
}
