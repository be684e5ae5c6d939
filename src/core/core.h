/*
 * core.h - the core module's public face: errors, logging, JSON helpers, paths.
 * The bottom layer: it depends on libc and jansson only.
 */
#ifndef TA_CORE_H
#define TA_CORE_H

#include "error.h"
#include "json.h"
#include "log.h"
#include "paths.h"

#define TA_VERSION "0.1.0"

#endif
