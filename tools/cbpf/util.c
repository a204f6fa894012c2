// SPDX-License-Identifier: MIT
/* Error reporting and whole-file input for the cbpf command. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subcommands.h"
#include "util.h"

const char *progname = "cbpf";

void errorf(const char *fmt, ...)
{
	va_list ap;

	/* Whatever stdout holds came first; keep the order in a terminal. */
	fflush(stdout);
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int usage_hint(void)
{
	fprintf(stderr, "Try '%s --help'.\n", progname);
	return EXIT_USAGE;
}

const char *input_name(const char *path)
{
	return !path || !strcmp(path, "-") ? "<stdin>" : path;
}

static int read_stream(FILE *f, size_t cap, char **buf, size_t *len)
{
	size_t size = 4096, used = 0;
	char *data = malloc(size + 1), *bigger;

	if (!data)
		return -ENOMEM;
	for (;;) {
		size_t n = fread(data + used, 1, size - used, f);

		used += n;
		if (used > cap) {
			free(data);
			return -EFBIG;
		}
		if (used < size) {
			if (ferror(f)) {
				free(data);
				return -EIO;
			}
			break;
		}
		/* Grow past cap by one byte only, to detect going over. */
		size = size * 2 > cap ? cap + 1 : size * 2;
		bigger = realloc(data, size + 1);
		if (!bigger) {
			free(data);
			return -ENOMEM;
		}
		data = bigger;
	}
	data[used] = '\0';
	*buf = data;
	*len = used;
	return 0;
}

int read_input(const char *path, size_t cap, char **buf, size_t *len)
{
	bool is_stdin = !path || !strcmp(path, "-");
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	int ret;

	if (!f) {
		errorf("%s: %s", path, strerror(errno));
		return EXIT_USAGE;
	}
	errno = 0;
	ret = read_stream(f, cap, buf, len);
	if (ret == -EIO && errno)
		ret = -errno;
	if (!is_stdin)
		fclose(f);
	if (ret == -EFBIG) {
		errorf("%s: larger than %zu bytes; not a program", input_name(path), cap);
		return EXIT_USAGE;
	}
	if (ret < 0) {
		errorf("%s: %s", input_name(path), strerror(-ret));
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

bool parse_number(const char *s, uint64_t max, uint64_t *value)
{
	uint64_t v = 0;
	unsigned int base = 10, digit;
	const char *p = s;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (!*p)
		return false;
	for (; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digit = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			digit = *p - 'a' + 10;
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			digit = *p - 'A' + 10;
		else
			return false;
		if (digit > max || v > (max - digit) / base)
			return false;
		v = v * base + digit;
	}
	*value = v;
	return true;
}

int finish_output(int status)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		errorf("writing output: %s", strerror(errno ? errno : EIO));
		return EXIT_USAGE;
	}
	return status;
}
