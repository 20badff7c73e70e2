/* SPDX-License-Identifier: ISC */
#pragma once

/* The value parsers of util/config.c, in util/config_value.c. Each returns 0, or -1 with
 * *@out unchanged. */

/* cf_config_has_control - 1 when @s holds a control character (below 0x20, or 0x7f). */
int cf_config_has_control(const char *s);

/* cf_config_parse_bool - yes/no, true/false, on/off, 1/0 (any case) into 1 or 0. */
int cf_config_parse_bool(const char *v, int *out);

/*
 * cf_config_parse_window - "HH:MM-HH:MM" (spaces around '-' allowed) into minutes after
 * midnight; "24:00" as the end is midnight (1440), start and end must differ.
 */
int cf_config_parse_window(const char *v, int *start, int *end);

/* cf_config_parse_level - error, warning, info, debug into an enum cf_log_level. */
int cf_config_parse_level(const char *v, int *out);
