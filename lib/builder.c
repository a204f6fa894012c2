/* SPDX-License-Identifier: MIT */
/* In progress. */
#include "cbpf.h"
