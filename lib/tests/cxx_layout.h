/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by cxx_layout.c (compiled as C) and test_cxx.cc (C++). */
#ifndef SHMK_CXX_LAYOUT_H
#define SHMK_CXX_LAYOUT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cxx_layout_entry {
	const char *what;
	size_t value;
};

extern const struct cxx_layout_entry cxx_layout_c[];
extern const unsigned int cxx_layout_c_n;

#ifdef __cplusplus
}
#endif

#endif
