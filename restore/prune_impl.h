/* SPDX-License-Identifier: ISC */
#pragma once

/* Internal to prune.c: lock objects live in repo/locks.h. */
#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"
#include "repo/storage.h"

#include "repo/locks.h"
