/*
 * tessera.h — the public C API of libtessera, in one include.
 */
#ifndef TESSERA_H
#define TESSERA_H

#include "tessera/core.h"
#include "tessera/gguf.h"
#include "tessera/quant.h"
#include "tessera/graph.h"
#include "tessera/backend.h"
#include "tessera/engine.h"
#include "tessera/sampling.h"
#include "tessera/tokenizer.h"
#include "tessera/template.h"

#define TS_VERSION_MAJOR 0
#define TS_VERSION_MINOR 1
#define TS_VERSION_PATCH 0
#define TS_VERSION_STRING "0.1.0"

#endif /* TESSERA_H */
