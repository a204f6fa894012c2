/* SPDX-License-Identifier: MIT */
/* Error reporting and whole-file input for the cbpf command. */
#ifndef UTIL_H
#define UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "cbpf <command>": the prefix of every message on stderr. */
extern const char *progname;

void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "Try '<progname> --help'." and returns EXIT_USAGE. */
int usage_hint(void);

/* Name of an input for messages: "<stdin>" for NULL or "-". */
const char *input_name(const char *path);

/*
 * Reads all of path (NULL or "-": stdin) into a malloc'ed buffer with a
 * NUL after the data. More than cap bytes is an error, so that a wrong
 * argument (a disk image, /dev/zero) cannot eat all memory. Prints the
 * reason and returns EXIT_USAGE on failure.
 */
int read_input(const char *path, size_t cap, char **buf, size_t *len);

/* Decimal or 0x-hexadecimal number up to max; no sign, no octal. */
bool parse_number(const char *s, uint64_t max, uint64_t *value);

/* Flushes stdout; reports a failed write (full disk, closed pipe). */
int finish_output(int status);

#endif
