// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "log.h"

static enum log_level threshold = LOG_LEVEL_INFO;
static const char *line_prefix;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

int log_level_parse(const char *name, enum log_level *level)
{
	if (!strcmp(name, "warn")) {
		*level = LOG_LEVEL_WARN;
		return 0;
	}
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(name, level_names[i])) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_set_level(enum log_level level)
{
	threshold = level;
}

bool log_enabled(enum log_level level)
{
	return level <= threshold;
}

void log_set_prefix(const char *prefix)
{
	line_prefix = prefix;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line, so concurrent writers do not interleave. */
	if (line_prefix)
		fprintf(stderr, "wgpunch: %s: %s%s%s\n", line_prefix,
			level == LOG_LEVEL_INFO ? "" : level_names[level],
			level == LOG_LEVEL_INFO ? "" : ": ", line);
	else
		fprintf(stderr, "wgpunch: %s%s%s\n",
			level == LOG_LEVEL_INFO ? "" : level_names[level],
			level == LOG_LEVEL_INFO ? "" : ": ", line);
}
