/*
 * chat_template.h - turns a chat (OpenAI-style messages) into the prompt text a model
 * was trained on.
 *
 * The model's own Jinja template (GGUF `tokenizer.chat_template`) is rendered the way
 * transformers' apply_chat_template does: variables messages, tools (none when
 * absent), documents (none), add_generation_prompt, bos_token, eos_token, plus any
 * extra variables (enable_thinking, date_string, ...). Before rendering, messages are
 * normalized as transformers users expect: content given as an array of parts is
 * joined into one string ("\n" between text parts, other parts dropped) unless the
 * template itself reads typed parts, and tool-call arguments given as a JSON string
 * are parsed into an object (templates apply tojson to them).
 *
 * Models without a template get a built-in one, written here as Jinja, for the
 * common families: chatml, llama3, llama2, mistral, phi3, gemma, zephyr.
 */
#ifndef TA_ENGINE_CHAT_TEMPLATE_H
#define TA_ENGINE_CHAT_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>

#include "core/error.h"

/* Renders messages (a JSON array of {role, content, ...}; content a string, null, or
 * an array of {"type": "text", "text": ...}) with template_src, or when that is NULL
 * with the built-in template fallback_name (NULL: chatml). tools may be NULL; bos
 * and eos NULL mean ""; extra (NULL or a JSON object) adds variables. On success
 * *out is a malloc'd string the caller frees. Errors name the template line. */
int ta_chat_template_apply(const char *template_src, const char *fallback_name,
                           const json_t *messages, const json_t *tools, bool add_generation_prompt,
                           const char *bos, const char *eos, const json_t *extra, char **out,
                           ta_error *err);

/* The name of the built-in template closest to a model's template source or
 * architecture (either may be NULL): "chatml" when nothing else fits. */
const char *ta_chat_template_guess(const char *template_src, const char *arch);

/* The Jinja source of a built-in template, or NULL for an unknown name. */
const char *ta_chat_template_builtin(const char *name);

#endif
