/*
 * tessera/digest.h — content digests of model files, so that a file can be
 * checked against a published hash before it is trusted. SHA-256 comes from
 * OpenSSL's libcrypto (EVP); files are read in chunks, never mapped whole.
 */
#ifndef TESSERA_DIGEST_H
#define TESSERA_DIGEST_H

#include "tessera/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reports progress of a long operation: `done` of `total` bytes. Called from
 * the thread doing the work; must not call back into the operation. */
typedef void (*ts_progress_fn)(uint64_t done, uint64_t total, void *user);

/* Characters of a SHA-256 digest in hex, without the terminating NUL. */
#define TS_SHA256_HEX_LEN 64

/* SHA-256 of the file at `path`, written to `hex` as 64 lowercase hex digits
 * and a NUL. `cb` (may be NULL) is called after every chunk read with the
 * bytes hashed so far and the file's size when it was opened.
 * Returns TS_ERR_IO when the file cannot be opened or read (the message names
 * the path and the system's reason), TS_ERR_NOMEM, or TS_ERR_UNSUPPORTED
 * when libcrypto offers no SHA-256; `hex` is then left unspecified. */
ts_status ts_sha256_file(const char *path, ts_progress_fn cb, void *user,
                         char hex[TS_SHA256_HEX_LEN + 1]);

#ifdef __cplusplus
}
#endif
#endif /* TESSERA_DIGEST_H */
