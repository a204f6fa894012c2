// SPDX-License-Identifier: MIT
/*
 * WireGuard keys in base64. All conversions use libsodium's constant-time
 * codecs; buffers that held private material are wiped with
 * sodium_memzero before they go out of scope.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "key.h"

int wgp_key_from_base64(uint8_t key[static WGP_KEY_LEN], const char *b64)
{
	size_t bin_len = 0;
	const char *end = NULL;

	memset(key, 0, WGP_KEY_LEN);
	if (!b64 || strnlen(b64, WGP_KEY_B64_SIZE) != WGP_KEY_B64_LEN)
		return -EINVAL;
	if (sodium_base642bin(key, WGP_KEY_LEN, b64, WGP_KEY_B64_LEN, NULL,
			      &bin_len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    bin_len != WGP_KEY_LEN || end != b64 + WGP_KEY_B64_LEN) {
		sodium_memzero(key, WGP_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

void wgp_key_to_base64(char b64[static WGP_KEY_B64_SIZE],
		       const uint8_t key[static WGP_KEY_LEN])
{
	sodium_bin2base64(b64, WGP_KEY_B64_SIZE, key, WGP_KEY_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
}

int wgp_key_public(uint8_t pub[static WGP_KEY_LEN],
		   const uint8_t priv[static WGP_KEY_LEN])
{
	return crypto_scalarmult_base(pub, priv) == 0 ? 0 : -EINVAL;
}

void wgp_key_generate(uint8_t priv[static WGP_KEY_LEN])
{
	randombytes_buf(priv, WGP_KEY_LEN);
	/* Curve25519 clamping, as wg genkey writes it. */
	priv[0] &= 248;
	priv[31] = (priv[31] & 127) | 64;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	       c == '\v' || c == '\f';
}

int wgp_key_read_file(uint8_t key[static WGP_KEY_LEN], const char *path)
{
	char buf[256];
	ssize_t n;
	size_t len = 0, start = 0, end;
	int fd, ret;

	memset(key, 0, WGP_KEY_LEN);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	/* Read everything (up to the buffer); a longer file is not a key. */
	for (;;) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			close(fd);
			sodium_memzero(buf, sizeof(buf));
			return ret;
		}
		if (n == 0 || (len += (size_t)n) == sizeof(buf) - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	end = len;
	while (start < end && is_space(buf[start]))
		start++;
	while (end > start && is_space(buf[end - 1]))
		end--;
	buf[end] = '\0';
	ret = wgp_key_from_base64(key, buf + start);
	sodium_memzero(buf, sizeof(buf));
	return ret;
}

bool wgp_key_equal(const uint8_t a[static WGP_KEY_LEN],
		   const uint8_t b[static WGP_KEY_LEN])
{
	return sodium_memcmp(a, b, WGP_KEY_LEN) == 0;
}

bool wgp_key_is_zero(const uint8_t key[static WGP_KEY_LEN])
{
	return sodium_is_zero(key, WGP_KEY_LEN) == 1;
}
