// SPDX-License-Identifier: MIT
/*
 * The one logging module (see log.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "log.h"

enum log_level log_threshold = LOG_LEVEL_INFO;

static const char *program = "wgpunch";
static const char *line_prefix;
static bool to_journal;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

/* syslog priorities, for the journal's <N> prefix. */
static const char level_priority[] = {
	[LOG_LEVEL_ERROR] = '3',
	[LOG_LEVEL_WARN] = '4',
	[LOG_LEVEL_INFO] = '6',
	[LOG_LEVEL_DEBUG] = '7',
};

/* systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connected
 * stderr to; stderr is the journal only if it still is that stream. */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_init(const char *name)
{
	program = name;
	to_journal = stderr_is_journal();
}

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

const char *log_level_name(enum log_level level)
{
	return level_names[level];
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

void log_set_prefix(const char *prefix)
{
	line_prefix = prefix;
}

/* "2026-12-03T20:33:21.654Z wgpunch[42]: " or "<4>": its length. */
static int line_start(char *line, size_t cap, enum log_level level)
{
	struct timespec ts;
	struct tm tm;

	if (to_journal)
		return snprintf(line, cap, "<%c>", level_priority[level]);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	return snprintf(line, cap,
			"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d]: ",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, program,
			(int)getpid());
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n, m;

	if (!log_enabled(level))
		return;
	n = line_start(line, sizeof(line), level);
	if (n < 0)
		return;
	m = snprintf(line + n, sizeof(line) - (size_t)n, "%s%s%s%s",
		     line_prefix ? line_prefix : "", line_prefix ? ": " : "",
		     to_journal ? "" : level_names[level], to_journal ? "" : ": ");
	if (m < 0)
		return;
	n += m;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;	/* truncated: still end the line */
	line[n++] = '\n';
	/* Best effort: nothing sensible to do if stderr is gone. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		(void)errno;
}
