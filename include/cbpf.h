/* SPDX-License-Identifier: MIT */
/* libcbpf — classic BPF, exactly as Linux runs it. */
#ifndef CBPF_H
#define CBPF_H

#include "cbpf/insn.h"
#include "cbpf/prog.h"
#include "cbpf/builder.h"
#include "cbpf/validate.h"
#include "cbpf/vm.h"
#include "cbpf/socket.h"
#include "cbpf/filters.h"
#include "cbpf/text.h"

#endif
