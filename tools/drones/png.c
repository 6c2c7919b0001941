// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A minimal PNG writer (see png.h).  The format, from RFC 2083 (PNG),
 * RFC 1950 (zlib) and RFC 1951 (deflate):
 *
 *   signature, IHDR, PLTE, IDAT, IEND; each chunk is length (big endian),
 *   type, data and the CRC-32 of type and data.
 *   IDAT holds one zlib stream: header 0x78 0x01, deflate blocks, the
 *   Adler-32 of the uncompressed bytes (big endian).  Each stored block
 *   is a byte 0 (or 1 on the last block), LEN and ~LEN (little endian,
 *   LEN <= 65535) and LEN raw bytes.  The raw bytes are the rows, each
 *   preceded by its filter type (0: none).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "png.h"

#define STORED_MAX	65535U

/* CRC-32 (ISO 3309, reflected polynomial 0xedb88320), a byte at a time. */
static uint32_t crc_table[256];

static void crc_init(void)
{
	uint32_t c, n, k;

	if (crc_table[1])
		return;
	for (n = 0; n < 256; n++) {
		c = n;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

/* Adler-32: two sums modulo 65521; 5552 bytes may pass between reductions. */
struct adler {
	uint32_t a, b;
};

static void adler_update(struct adler *s, const uint8_t *p, size_t n)
{
	while (n) {
		size_t k = n < 5552 ? n : 5552;

		n -= k;
		while (k--) {
			s->a += *p++;
			s->b += s->a;
		}
		s->a %= 65521;
		s->b %= 65521;
	}
}

/* An output stream that keeps the CRC of the current chunk. */
struct out {
	FILE *f;
	uint32_t crc;
	int err;
};

static void put(struct out *o, const void *p, size_t n)
{
	o->crc = crc_update(o->crc, p, n);
	if (!o->err && n && fwrite(p, 1, n, o->f) != n)
		o->err = errno ? errno : EIO;
}

static void put32(struct out *o, uint32_t v)
{
	uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };

	put(o, b, 4);
}

static void chunk_begin(struct out *o, const char *type, uint32_t len)
{
	put32(o, len);
	o->crc = 0xffffffffU;		/* the CRC covers type and data */
	put(o, type, 4);
}

static void chunk_end(struct out *o)
{
	put32(o, o->crc ^ 0xffffffffU);
}

int png_write_indexed(const char *path, uint32_t width, uint32_t height,
		      const uint8_t *pixels, const uint8_t palette[256][3])
{
	static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	uint64_t raw, blocks, idat_len, done = 0, x = 0;
	struct adler ad = { 1, 0 };
	struct out o = { 0 };
	uint32_t y = 0;

	if (!width || !height || width > 0x7fffffffU || height > 0x7fffffffU)
		return -EINVAL;
	raw = (uint64_t)height * (width + 1ULL);
	blocks = (raw + STORED_MAX - 1) / STORED_MAX;
	idat_len = 2 + raw + 5 * blocks + 4;
	if (idat_len > 0x7fffffffU)
		return -EFBIG;
	crc_init();
	o.f = fopen(path, "wb");
	if (!o.f)
		return -errno;

	put(&o, sig, sizeof(sig));
	chunk_begin(&o, "IHDR", 13);
	put32(&o, width);
	put32(&o, height);
	/* bit depth 8, colour type 3 (palette), deflate, filter 0, no interlace */
	put(&o, (const uint8_t[]){ 8, 3, 0, 0, 0 }, 5);
	chunk_end(&o);

	chunk_begin(&o, "PLTE", 768);
	put(&o, palette, 768);
	chunk_end(&o);

	chunk_begin(&o, "IDAT", (uint32_t)idat_len);
	put(&o, (const uint8_t[]){ 0x78, 0x01 }, 2);	/* deflate, 32K window, no dict */
	while (done < raw) {
		uint32_t len = raw - done < STORED_MAX ? (uint32_t)(raw - done) : STORED_MAX;
		uint8_t hdr[5] = { done + len == raw, len, len >> 8,
				   (uint8_t)~len, (uint8_t)(~len >> 8) };
		uint32_t left = len;

		put(&o, hdr, 5);
		/* The block's bytes: the rest of the current row, its filter byte first. */
		while (left) {
			if (x == 0) {
				uint8_t filter = 0;

				put(&o, &filter, 1);
				adler_update(&ad, &filter, 1);
				left--;
				x = 1;
				continue;
			}
			uint64_t n = width + 1ULL - x;

			if (n > left)
				n = left;
			put(&o, pixels + (uint64_t)y * width + (x - 1), n);
			adler_update(&ad, pixels + (uint64_t)y * width + (x - 1), n);
			left -= (uint32_t)n;
			x += n;
			if (x == width + 1ULL) {
				x = 0;
				y++;
			}
		}
		done += len;
	}
	put32(&o, (ad.b << 16) | ad.a);
	chunk_end(&o);

	chunk_begin(&o, "IEND", 0);
	chunk_end(&o);

	if (fclose(o.f) && !o.err)
		o.err = errno ? errno : EIO;
	return -o.err;
}
