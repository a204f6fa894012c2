/* SPDX-License-Identifier: MIT */
/*
 * The programs' one growable array. (libcbpf has its own, cbpf_grow():
 * the library depends on nothing of the programs.)
 */
#ifndef WGPUNCH_ARRAY_H
#define WGPUNCH_ARRAY_H

#include <stddef.h>

/*
 * *array holds *cap elements of size: make it hold at least need,
 * doubling from 8. 0, or -ENOMEM with *array and *cap untouched (also
 * when the size would overflow).
 */
int array_grow(void **array, size_t *cap, size_t need, size_t size);

#endif
