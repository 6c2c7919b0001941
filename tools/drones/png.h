/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A minimal PNG writer for the drones demo: 8-bit indexed colour, one
 * zlib stream of stored (uncompressed) deflate blocks.  No dependency.
 */
#ifndef DRONES_PNG_H
#define DRONES_PNG_H

#include <stdint.h>

/**
 * png_write_indexed() - write an 8-bit palette image
 * @path:	file to create (truncated when it exists)
 * @width:	pixels per row, 1 to 2^31 - 1
 * @height:	rows, 1 to 2^31 - 1
 * @pixels:	@height rows of @width palette indices, row after row
 * @palette:	256 RGB entries
 *
 * Return: 0, or a negative errno (-EINVAL: bad size; -EFBIG: the image
 * data would not fit one PNG chunk; another from fopen/fwrite/fclose).
 */
int png_write_indexed(const char *path, uint32_t width, uint32_t height,
		      const uint8_t *pixels, const uint8_t palette[256][3]);

#endif /* DRONES_PNG_H */
