/* SPDX-License-Identifier: MIT */
/*
 * The one growable array of the whole tree is libcbpf's lib_grow()
 * (lib/array.c). It is internal to the library: the shared libcbpf does
 * not export it, and the programs reach it because they link libcbpf's
 * static archive. Declared here so that the programs need none of the
 * library's other internals.
 */
#ifndef WGPUNCH_ARRAY_H
#define WGPUNCH_ARRAY_H

#include <stddef.h>

/*
 * *array holds *cap elements of size: make it hold at least need,
 * doubling. 0, or -ENOMEM with *array and *cap untouched (also when the
 * size would overflow).
 */
int lib_grow(void **array, size_t *cap, size_t need, size_t size);

#endif
