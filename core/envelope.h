/* SPDX-License-Identifier: ISC */
#pragma once

/*
 * Sealed envelopes (iMessage-style): a payload for a set of recipient devices.
 * A random content key encrypts the payload (XChaCha20-Poly1305); the content key is
 * wrapped to each recipient's X25519 key through one ephemeral X25519 key; the whole is
 * signed by the sender's Ed25519 key. Byte layout and limits: docs/formats.md,
 * "Envelope". Backup keys reach devices and recovery contacts in exactly this format.
 *
 * @ad is caller context (e.g. repository id and key epoch) bound into both the AEAD and
 * the signature but not stored: an envelope opened with different @ad fails.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/identity.h"
#include "core/secbuf.h"

#define CF_ENVELOPE_VERSION 1
#define CF_ENVELOPE_MAX_RECIPIENTS 1024
#define CF_ENVELOPE_MAX_PAYLOAD (16u << 20)
#define CF_ENVELOPE_MAX_AD 65536

/*
 * cf_envelope_seal - seal @payload for @n recipients (1..CF_ENVELOPE_MAX_RECIPIENTS),
 * signed by @sender. On success *@out is a malloc'ed buffer of *@outlen bytes that the
 * caller releases with free(); *@out is set only on success.
 * Returns 0; CF_E_LIMIT for too many recipients, too large a payload or @ad;
 * CF_E_INVAL for n == 0 or a recipient listed twice (same X25519 key); CF_E_CORRUPT for
 * a recipient key of low order; -ENOMEM.
 */
int cf_envelope_seal(uint8_t **out, size_t *outlen, const struct cf_identity *sender,
		     const struct cf_pubid *recipients, size_t n, const void *ad, size_t adlen,
		     const void *payload, size_t len);

/*
 * cf_envelope_open - open @env (untrusted bytes) as @me, accepting only a sender among
 * @senders (@nsenders trusted public identities). On success *@payload is a new secure
 * buffer and, if @sender_index is not NULL, it receives the index of the sender in
 * @senders. Nothing is set on failure, and nothing is left allocated.
 * Returns 0 or, checked in this order:
 *   CF_E_TRUNCATED    shorter than its header or its counts say;
 *   CF_E_FORMAT       wrong magic, or bytes after the signature;
 *   CF_E_VERSION      an envelope version this build does not read;
 *   CF_E_LIMIT        recipient count or payload length above the limits;
 *   CF_E_UNTRUSTED    the sender key is not in @senders;
 *   CF_E_SIGNATURE    the signature does not verify (any altered byte, other @ad);
 *   CF_E_NOTRECIPIENT no wrapped key for @me opens;
 *   CF_E_AUTH         the payload does not decrypt (a sender that sealed garbage);
 *   -ENOMEM.
 */
int cf_envelope_open(struct cf_secbuf **payload, size_t *sender_index,
		     const struct cf_identity *me, const struct cf_pubid *senders,
		     size_t nsenders, const void *ad, size_t adlen, const uint8_t *env,
		     size_t envlen);

/*
 * cf_envelope_sender - read the claimed sender's Ed25519 key from @env without verifying
 * anything (to look the sender up in a directory before cf_envelope_open).
 * Returns 0, CF_E_TRUNCATED, CF_E_FORMAT or CF_E_VERSION.
 */
int cf_envelope_sender(uint8_t sign_pk[CF_PUBKEY_BYTES], const uint8_t *env, size_t envlen);
