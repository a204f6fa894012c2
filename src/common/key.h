/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — WireGuard keys: 32-byte Curve25519 keys and their 44-character
 * standard base64 form, exactly what `wg genkey` / `wg pubkey` print.
 * Decoding and encoding go through libsodium's constant-time base64
 * (sodium_base642bin / sodium_bin2base64, original variant), so private
 * keys never drive a data-dependent branch or table lookup.
 */
#ifndef WGPUNCH_KEY_H
#define WGPUNCH_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WGP_KEY_LEN		32
#define WGP_KEY_B64_LEN		44	/* characters, "=" padding included */
#define WGP_KEY_B64_SIZE	45	/* with the NUL */

/*
 * Parse exactly WGP_KEY_B64_LEN base64 characters (nothing before or
 * after) into key. 0 or -EINVAL; key is left zeroed on error.
 */
int wgp_key_from_base64(uint8_t key[static WGP_KEY_LEN], const char *b64);

/* Write the 44-character form and a NUL into b64. */
void wgp_key_to_base64(char b64[static WGP_KEY_B64_SIZE],
		       const uint8_t key[static WGP_KEY_LEN]);

/*
 * pub = X25519(priv, basepoint), as `wg pubkey` does (the scalar is
 * clamped internally). 0, or -EINVAL if libsodium refuses.
 */
int wgp_key_public(uint8_t pub[static WGP_KEY_LEN],
		   const uint8_t priv[static WGP_KEY_LEN]);

/* A fresh clamped private key, as `wg genkey`. */
void wgp_key_generate(uint8_t priv[static WGP_KEY_LEN]);

/*
 * Read a base64 key from a file (as written by `wg genkey > FILE`):
 * leading and trailing white space is ignored, anything else must be
 * the 44 characters. The file's contents are wiped from memory after
 * use. 0 or a negative errno (-EINVAL for bad contents).
 */
int wgp_key_read_file(uint8_t key[static WGP_KEY_LEN], const char *path);

/* Constant-time comparison of two keys. */
bool wgp_key_equal(const uint8_t a[static WGP_KEY_LEN],
		   const uint8_t b[static WGP_KEY_LEN]);

/* True if the key is all zeros (constant time): never a valid peer. */
bool wgp_key_is_zero(const uint8_t key[static WGP_KEY_LEN]);

#endif
