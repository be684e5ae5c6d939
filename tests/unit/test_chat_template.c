/*
 * test_chat_template.c - the Jinja interpreter and the chat-template module.
 *
 * Real templates: the tokenizer.chat_template of three reference vocabularies in
 * ../shared/vocab, rendered for a system/user/assistant/user chat (and tools, and
 * enable_thinking for the Qwen one). Family templates written as test fixtures in the
 * style of Llama 3.1, Qwen2.5, Qwen3, Mistral, Phi-3, Gemma and SmolLM. The expected
 * strings of both were produced by Python's Jinja2 3.1 configured as transformers
 * configures it (trim_blocks, lstrip_blocks, loopcontrols, transformers' tojson,
 * raise_exception), so they are what apply_chat_template gives.
 *
 * Then the language itself: operators, literals, filters, tests, methods, statements,
 * whitespace control, undefined semantics (expected strings again from Jinja2), and
 * hand-written checks of errors (with line and column) and of the limits.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "engine/chat_template.h"
#include "engine/jinja.h"
#include "gguf/gguf.h"

#define VOCAB_DIR TA_SOURCE_DIR "/../shared/vocab"

typedef struct chat_case {
    const char *name, *tmpl, *messages, *tools;
    bool add_generation_prompt;
    const char *extra, *bos, *eos;
    const char *expect; /* or */
    const char *error;  /* a part of the error message */
} chat_case;

typedef struct real_case {
    const char *vocab, *conv;
    bool add_generation_prompt;
    const char *bos, *eos, *extra;
    bool tools;
    const char *expect;
} real_case;

typedef struct lang_case {
    const char *tmpl, *expect;
} lang_case;

typedef struct builtin_case {
    const char *name;
    bool add_generation_prompt;
    const char *expect;
} builtin_case;

/* ---- generated from the fixtures below; expected outputs rendered by Python Jinja2 3.1
 * configured as transformers does (trim_blocks, lstrip_blocks, loopcontrols, its tojson) ---- */

static const char tpl_gemma[] =
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate "
    "user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\\n'}}\n"
    "{%- endif -%}\n";

static const char tpl_llama31[] =
    "{{- bos_token }}\n"
    "{%- if custom_tools is defined %}\n"
    "    {%- set tools = custom_tools %}\n"
    "{%- endif %}\n"
    "{%- if not tools_in_user_message is defined %}\n"
    "    {%- set tools_in_user_message = true %}\n"
    "{%- endif %}\n"
    "{%- if not date_string is defined %}\n"
    "    {%- if strftime_now is defined %}\n"
    "        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n"
    "    {%- else %}\n"
    "        {%- set date_string = \"26 Jul 2024\" %}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- if not tools is defined %}\n"
    "    {%- set tools = none %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- The system message, if any, is taken out of the list #}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set system_message = \"\" %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- The system turn always states the knowledge cutoff and today's date #}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{%- if tools is not none %}\n"
    "    {{- \"Environment: ipython\\n\" }}\n"
    "{%- endif %}\n"
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
    "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
    "{%- if tools is not none and not tools_in_user_message %}\n"
    "    {{- \"These functions are available. Answer with a JSON function call when one "
    "helps.\\n\\n\" }}\n"
    "    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\\n\\n\" }}\n"
    "    {%- endfor %}\n"
    "{%- endif %}\n"
    "{{- system_message }}\n"
    "{{- \"<|eot_id|>\" }}\n"
    "\n"
    "{#- With tools, the first user turn lists them #}\n"
    "{%- if tools_in_user_message and not tools is none %}\n"
    "    {%- if messages | length != 0 %}\n"
    "        {%- set first_user_message = messages[0]['content']|trim %}\n"
    "        {%- set messages = messages[1:] %}\n"
    "    {%- else %}\n"
    "        {{- raise_exception(\"Tools need a first user message to go into.\") }}\n"
    "    {%- endif %}\n"
    "    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n"
    "    {{- \"Given these functions, reply with a JSON function call that answers the "
    "prompt.\\n\\n\" }}\n"
    "    {{- 'Use the format {\"name\": function name, \"parameters\": dictionary of arguments}. ' "
    "}}\n"
    "    {{- \"Do not use variables.\\n\\n\" }}\n"
    "    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\\n\\n\" }}\n"
    "    {%- endfor %}\n"
    "    {{- first_user_message + \"<|eot_id|>\"}}\n"
    "{%- endif %}\n"
    "\n"
    "{%- for message in messages %}\n"
    "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in "
    "message) %}\n"
    "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
    "message['content'] | trim + '<|eot_id|>' }}\n"
    "    {%- elif 'tool_calls' in message %}\n"
    "        {%- if not message.tool_calls|length == 1 %}\n"
    "            {{- raise_exception(\"Only one tool call per message is supported.\") }}\n"
    "        {%- endif %}\n"
    "        {%- set tool_call = message.tool_calls[0].function %}\n"
    "        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    "        {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n"
    "        {{- '\"parameters\": ' }}\n"
    "        {{- tool_call.arguments | tojson }}\n"
    "        {{- \"}\" }}\n"
    "        {{- \"<|eot_id|>\" }}\n"
    "    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n"
    "        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n"
    "        {%- if message.content is mapping or message.content is iterable %}\n"
    "            {{- message.content | tojson }}\n"
    "        {%- else %}\n"
    "            {{- message.content }}\n"
    "        {%- endif %}\n"
    "        {{- \"<|eot_id|>\" }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n";

static const char tpl_mistral[] =
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content'] %}\n"
    "    {%- set loop_messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set loop_messages = messages %}\n"
    "{%- endif %}\n"
    "\n"
    "{{- bos_token }}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
    "        {{- raise_exception('Roles must alternate user/assistant/user/assistant after the "
    "optional system message.') }}\n"
    "    {%- endif %}\n"
    "    {%- if message['role'] == 'user' %}\n"
    "        {%- if loop.last and system_message is defined %}\n"
    "            {{- '[INST] ' + system_message + '\\n\\n' + message['content'] + '[/INST]' }}\n"
    "        {%- else %}\n"
    "            {{- '[INST] ' + message['content'] + '[/INST]' }}\n"
    "        {%- endif %}\n"
    "    {%- elif message['role'] == 'assistant' %}\n"
    "        {{- ' ' + message['content'] + eos_token}}\n"
    "    {%- else %}\n"
    "        {{- raise_exception('Only user, assistant and an initial system message are "
    "supported.') }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n";

static const char tpl_phi3[] =
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n"
    "' + message['content'] + '<|end|>\n"
    "'}}{% elif message['role'] == 'user' %}{{'<|user|>\n"
    "' + message['content'] + '<|end|>\n"
    "'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n"
    "' + message['content'] + '<|end|>\n"
    "'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n"
    "' }}{% else %}{{ eos_token }}{% endif %}\n";

static const char tpl_qwen25[] =
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    "    {%- else %}\n"
    "        {{- 'You are Qwen, a helpful assistant.' }}\n"
    "    {%- endif %}\n"
    "    {{- \"\\n\\n# Tools\\n\\nYou may call functions to help with the user's "
    "request.\\n\\nFunction signatures are inside <tools></tools>:\\n<tools>\" }}\n"
    "    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n"
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- \"\\n</tools>\\n\\nFor each call, return a JSON object with the name and arguments "
    "inside <tool_call></tool_call>:\\n<tool_call>\\n{\\\"name\\\": <function-name>, "
    "\\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"
    "{%- else %}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are Qwen, a helpful assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or "
    "(message.role == \"assistant\" and not message.tool_calls) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' "
    "}}\n"
    "    {%- elif message.role == \"assistant\" %}\n"
    "        {{- '<|im_start|>' + message.role }}\n"
    "        {%- if message.content %}\n"
    "            {{- '\\n' + message.content }}\n"
    "        {%- endif %}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {%- if tool_call.function is defined %}\n"
    "                {%- set tool_call = tool_call.function %}\n"
    "            {%- endif %}\n"
    "            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n"
    "            {{- tool_call.name }}\n"
    "            {{- '\", \"arguments\": ' }}\n"
    "            {{- tool_call.arguments | tojson }}\n"
    "            {{- '}\\n</tool_call>' }}\n"
    "        {%- endfor %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- message.content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n";

static const char tpl_qwen3[] =
    "{%- if messages[0].role == 'system' %}\n"
    "    {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}\n"
    "{%- endif %}\n"
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\n"
    "{%- for message in messages[::-1] %}\n"
    "    {%- set index = (messages|length - 1) - loop.index0 %}\n"
    "    {%- if ns.multi_step_tool and message.role == \"user\" and not "
    "(message.content.startswith('<tool_response>') and "
    "message.content.endswith('</tool_response>')) %}\n"
    "        {%- set ns.multi_step_tool = false %}\n"
    "        {%- set ns.last_query_index = index %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- for message in messages %}\n"
    "    {%- if message.role == \"user\" or (message.role == \"system\" and not loop.first) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n"
    "        {%- set content = message.content %}\n"
    "        {%- set reasoning_content = '' %}\n"
    "        {%- if message.reasoning_content is defined and message.reasoning_content is not none "
    "%}\n"
    "            {%- set reasoning_content = message.reasoning_content %}\n"
    "        {%- elif '</think>' in message.content %}\n"
    "            {%- set content = message.content.split('</think>')[-1].lstrip('\\n') %}\n"
    "            {%- set reasoning_content = "
    "message.content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}\n"
    "        {%- endif %}\n"
    "        {%- if loop.index0 > ns.last_query_index and (loop.last or reasoning_content) %}\n"
    "            {{- '<|im_start|>assistant\\n<think>\\n' + reasoning_content.strip('\\n') + "
    "'\\n</think>\\n\\n' + content.lstrip('\\n') }}\n"
    "        {%- else %}\n"
    "            {{- '<|im_start|>assistant\\n' + content }}\n"
    "        {%- endif %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "    {%- if enable_thinking is defined and enable_thinking is false %}\n"
    "        {{- '<think>\\n\\n</think>\\n\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n";

static const char tpl_smollm[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n"
    "' + message['content'] + '<|im_end|>' + '\n"
    "'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n"
    "' }}{% endif %}\n";

static const chat_case chat_cases[] = {
    {"llama31_plain", tpl_llama31,
     "[{\"role\": \"system\", \"content\": \"You are a helpful assistant.\"}, {\"role\": \"user\", "
     "\"content\": \"Hello!\"}, {\"role\": \"assistant\", \"content\": \"Hi there. How can I "
     "help?\"}, {\"role\": \"user\", \"content\": \"What is 2+2?\"}]",
     NULL, true, "{\"date_string\": \"26 Jul 2024\"}", "<|begin_of_text|>", "<|eot_id|>",
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
     "\n"
     "Cutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n"
     "\n"
     "You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     "Hi there. How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "What is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n",
     NULL},
    {"llama31_no_prompt", tpl_llama31,
     "[{\"role\": \"system\", \"content\": \"You are a helpful assistant.\"}, {\"role\": \"user\", "
     "\"content\": \"Hello!\"}, {\"role\": \"assistant\", \"content\": \"Hi there. How can I "
     "help?\"}, {\"role\": \"user\", \"content\": \"What is 2+2?\"}]",
     NULL, false, "{\"date_string\": \"26 Jul 2024\"}", "<|begin_of_text|>", "<|eot_id|>",
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
     "\n"
     "Cutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n"
     "\n"
     "You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     "Hi there. How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "What is 2+2?<|eot_id|>",
     NULL},
    {"llama31_tools", tpl_llama31,
     "[{\"role\": \"system\", \"content\": \"You are a weather bot.\"}, {\"role\": \"user\", "
     "\"content\": \"Weather in Paris?\"}, {\"role\": \"assistant\", \"content\": null, "
     "\"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
     "\"arguments\": {\"location\": \"Paris\", \"unit\": \"celsius\"}}}]}, {\"role\": \"tool\", "
     "\"content\": \"{\\\"temp\\\": 22, \\\"sky\\\": \\\"clear\\\"}\"}]",
     "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get "
     "the weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": "
     "{\"location\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": "
     "\"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"location\"]}}}]",
     true, "{\"date_string\": \"26 Jul 2024\"}", "<|begin_of_text|>", "<|eot_id|>",
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
     "\n"
     "Environment: ipython\n"
     "Cutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n"
     "\n"
     "You are a weather bot.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Given these functions, reply with a JSON function call that answers the prompt.\n"
     "\n"
     "Use the format {\"name\": function name, \"parameters\": dictionary of arguments}. Do not "
     "use variables.\n"
     "\n"
     "{\n"
     "    \"type\": \"function\",\n"
     "    \"function\": {\n"
     "        \"name\": \"get_weather\",\n"
     "        \"description\": \"Get the weather in a city\",\n"
     "        \"parameters\": {\n"
     "            \"type\": \"object\",\n"
     "            \"properties\": {\n"
     "                \"location\": {\n"
     "                    \"type\": \"string\",\n"
     "                    \"description\": \"City name\"\n"
     "                },\n"
     "                \"unit\": {\n"
     "                    \"type\": \"string\",\n"
     "                    \"enum\": [\n"
     "                        \"celsius\",\n"
     "                        \"fahrenheit\"\n"
     "                    ]\n"
     "                }\n"
     "            },\n"
     "            \"required\": [\n"
     "                \"location\"\n"
     "            ]\n"
     "        }\n"
     "    }\n"
     "}\n"
     "\n"
     "Weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     "{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\", \"unit\": "
     "\"celsius\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n"
     "\n"
     "\"{\\\"temp\\\": 22, \\\"sky\\\": "
     "\\\"clear\\\"}\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n",
     NULL},
    {"llama31_tools_in_system", tpl_llama31,
     "[{\"role\": \"system\", \"content\": \"You are a weather bot.\"}, {\"role\": \"user\", "
     "\"content\": \"Weather in Paris?\"}, {\"role\": \"assistant\", \"content\": null, "
     "\"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
     "\"arguments\": {\"location\": \"Paris\", \"unit\": \"celsius\"}}}]}, {\"role\": \"tool\", "
     "\"content\": \"{\\\"temp\\\": 22, \\\"sky\\\": \\\"clear\\\"}\"}]",
     "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get "
     "the weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": "
     "{\"location\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": "
     "\"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"location\"]}}}]",
     true, "{\"date_string\": \"26 Jul 2024\", \"tools_in_user_message\": false}",
     "<|begin_of_text|>", "<|eot_id|>",
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
     "\n"
     "Environment: ipython\n"
     "Cutting Knowledge Date: December 2023\n"
     "Today Date: 26 Jul 2024\n"
     "\n"
     "These functions are available. Answer with a JSON function call when one helps.\n"
     "\n"
     "{\n"
     "    \"type\": \"function\",\n"
     "    \"function\": {\n"
     "        \"name\": \"get_weather\",\n"
     "        \"description\": \"Get the weather in a city\",\n"
     "        \"parameters\": {\n"
     "            \"type\": \"object\",\n"
     "            \"properties\": {\n"
     "                \"location\": {\n"
     "                    \"type\": \"string\",\n"
     "                    \"description\": \"City name\"\n"
     "                },\n"
     "                \"unit\": {\n"
     "                    \"type\": \"string\",\n"
     "                    \"enum\": [\n"
     "                        \"celsius\",\n"
     "                        \"fahrenheit\"\n"
     "                    ]\n"
     "                }\n"
     "            },\n"
     "            \"required\": [\n"
     "                \"location\"\n"
     "            ]\n"
     "        }\n"
     "    }\n"
     "}\n"
     "\n"
     "You are a weather bot.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     "{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\", \"unit\": "
     "\"celsius\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n"
     "\n"
     "\"{\\\"temp\\\": 22, \\\"sky\\\": "
     "\\\"clear\\\"}\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n",
     NULL},
    {"qwen25_plain", tpl_qwen25,
     "[{\"role\": \"system\", \"content\": \"You are a helpful assistant.\"}, {\"role\": \"user\", "
     "\"content\": \"Hello!\"}, {\"role\": \"assistant\", \"content\": \"Hi there. How can I "
     "help?\"}, {\"role\": \"user\", \"content\": \"What is 2+2?\"}]",
     NULL, true, NULL, "", "<|im_end|>",
     "<|im_start|>system\n"
     "You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello!<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Hi there. How can I help?<|im_end|>\n"
     "<|im_start|>user\n"
     "What is 2+2?<|im_end|>\n"
     "<|im_start|>assistant\n",
     NULL},
    {"qwen25_nosys", tpl_qwen25,
     "[{\"role\": \"user\", \"content\": \"Hello!\"}, {\"role\": \"assistant\", \"content\": \"Hi "
     "there. How can I help?\"}, {\"role\": \"user\", \"content\": \"What is 2+2?\"}]",
     NULL, false, NULL, "", "<|im_end|>",
     "<|im_start|>system\n"
     "You are Qwen, a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello!<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Hi there. How can I help?<|im_end|>\n"
     "<|im_start|>user\n"
     "What is 2+2?<|im_end|>\n",
     NULL},
    {"qwen25_tools", tpl_qwen25,
     "[{\"role\": \"system\", \"content\": \"You are a weather bot.\"}, {\"role\": \"user\", "
     "\"content\": \"Weather in Paris?\"}, {\"role\": \"assistant\", \"content\": null, "
     "\"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
     "\"arguments\": {\"location\": \"Paris\", \"unit\": \"celsius\"}}}]}, {\"role\": \"tool\", "
     "\"content\": \"{\\\"temp\\\": 22, \\\"sky\\\": \\\"clear\\\"}\"}]",
     "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get "
     "the weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": "
     "{\"location\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": "
     "\"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"location\"]}}}]",
     true, NULL, "", "<|im_end|>",
     "<|im_start|>system\n"
     "You are a weather bot.\n"
     "\n"
     "# Tools\n"
     "\n"
     "You may call functions to help with the user's request.\n"
     "\n"
     "Function signatures are inside <tools></tools>:\n"
     "<tools>\n"
     "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get "
     "the weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": "
     "{\"location\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": "
     "\"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"location\"]}}}\n"
     "</tools>\n"
     "\n"
     "For each call, return a JSON object with the name and arguments inside "
     "<tool_call></tool_call>:\n"
     "<tool_call>\n"
     "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
     "</tool_call><|im_end|>\n"
     "<|im_start|>user\n"
     "Weather in Paris?<|im_end|>\n"
     "<|im_start|>assistant\n"
     "<tool_call>\n"
     "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\", \"unit\": "
     "\"celsius\"}}\n"
     "</tool_call><|im_end|>\n"
     "<|im_start|>user\n"
     "<tool_response>\n"
     "{\"temp\": 22, \"sky\": \"clear\"}\n"
     "</tool_response><|im_end|>\n"
     "<|im_start|>assistant\n",
     NULL},
    {"qwen25_string_arguments", tpl_qwen25,
     "[{\"role\": \"system\", \"content\": \"You are a weather bot.\"}, {\"role\": \"user\", "
     "\"content\": \"Weather in Paris?\"}, {\"role\": \"assistant\", \"content\": null, "
     "\"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
     "\"arguments\": \"{\\\"location\\\": \\\"Paris\\\", \\\"unit\\\": \\\"celsius\\\"}\"}}]}, "
     "{\"role\": \"tool\", \"content\": \"{\\\"temp\\\": 22, \\\"sky\\\": \\\"clear\\\"}\"}]",
     "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get "
     "the weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": "
     "{\"location\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": "
     "\"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"location\"]}}}]",
     true, NULL, "", "<|im_end|>",
     "<|im_start|>system\n"
     "You are a weather bot.\n"
     "\n"
     "# Tools\n"
     "\n"
     "You may call functions to help with the user's request.\n"
     "\n"
     "Function signatures are inside <tools></tools>:\n"
     "<tools>\n"
     "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get "
     "the weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": "
     "{\"location\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": "
     "\"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"location\"]}}}\n"
     "</tools>\n"
     "\n"
     "For each call, return a JSON object with the name and arguments inside "
     "<tool_call></tool_call>:\n"
     "<tool_call>\n"
     "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
     "</tool_call><|im_end|>\n"
     "<|im_start|>user\n"
     "Weather in Paris?<|im_end|>\n"
     "<|im_start|>assistant\n"
     "<tool_call>\n"
     "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\", \"unit\": "
     "\"celsius\"}}\n"
     "</tool_call><|im_end|>\n"
     "<|im_start|>user\n"
     "<tool_response>\n"
     "{\"temp\": 22, \"sky\": \"clear\"}\n"
     "</tool_response><|im_end|>\n"
     "<|im_start|>assistant\n",
     NULL},
    {"qwen25_unicode", tpl_qwen25,
     "[{\"role\": \"user\", \"content\": \"Ünïcödé ✓ 日本語 \\\"quotes\\\" \\\\ back\"}]",
     "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get "
     "the weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": "
     "{\"location\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": "
     "\"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"location\"]}}}]",
     true, NULL, "", "<|im_end|>",
     "<|im_start|>system\n"
     "You are Qwen, a helpful assistant.\n"
     "\n"
     "# Tools\n"
     "\n"
     "You may call functions to help with the user's request.\n"
     "\n"
     "Function signatures are inside <tools></tools>:\n"
     "<tools>\n"
     "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get "
     "the weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": "
     "{\"location\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": "
     "\"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"location\"]}}}\n"
     "</tools>\n"
     "\n"
     "For each call, return a JSON object with the name and arguments inside "
     "<tool_call></tool_call>:\n"
     "<tool_call>\n"
     "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
     "</tool_call><|im_end|>\n"
     "<|im_start|>user\n"
     "Ünïcödé ✓ 日本語 \"quotes\" \\ back<|im_end|>\n"
     "<|im_start|>assistant\n",
     NULL},
    {"qwen3_think_history", tpl_qwen3,
     "[{\"role\": \"user\", \"content\": \"What is 2+2?\"}, {\"role\": \"assistant\", \"content\": "
     "\"<think>\\nAdd them.\\n</think>\\n\\n4\"}, {\"role\": \"user\", \"content\": \"And 3+3?\"}]",
     NULL, true, NULL, "", "<|im_end|>",
     "<|im_start|>user\n"
     "What is 2+2?<|im_end|>\n"
     "<|im_start|>assistant\n"
     "4<|im_end|>\n"
     "<|im_start|>user\n"
     "And 3+3?<|im_end|>\n"
     "<|im_start|>assistant\n",
     NULL},
    {"qwen3_no_thinking", tpl_qwen3,
     "[{\"role\": \"user\", \"content\": \"What is 2+2?\"}, {\"role\": \"assistant\", \"content\": "
     "\"<think>\\nAdd them.\\n</think>\\n\\n4\"}, {\"role\": \"user\", \"content\": \"And 3+3?\"}]",
     NULL, true, "{\"enable_thinking\": false}", "", "<|im_end|>",
     "<|im_start|>user\n"
     "What is 2+2?<|im_end|>\n"
     "<|im_start|>assistant\n"
     "4<|im_end|>\n"
     "<|im_start|>user\n"
     "And 3+3?<|im_end|>\n"
     "<|im_start|>assistant\n"
     "<think>\n"
     "\n"
     "</think>\n"
     "\n",
     NULL},
    {"qwen3_reasoning_content", tpl_qwen3,
     "[{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": "
     "\"What is 2+2?\"}, {\"role\": \"assistant\", \"content\": \"4\", \"reasoning_content\": \"2 "
     "plus 2 is 4.\"}]",
     NULL, false, NULL, "", "<|im_end|>",
     "<|im_start|>system\n"
     "Be brief.<|im_end|>\n"
     "<|im_start|>user\n"
     "What is 2+2?<|im_end|>\n"
     "<|im_start|>assistant\n"
     "<think>\n"
     "2 plus 2 is 4.\n"
     "</think>\n"
     "\n"
     "4<|im_end|>\n",
     NULL},
    {"mistral_plain", tpl_mistral,
     "[{\"role\": \"system\", \"content\": \"You are a helpful assistant.\"}, {\"role\": \"user\", "
     "\"content\": \"Hello!\"}, {\"role\": \"assistant\", \"content\": \"Hi there. How can I "
     "help?\"}, {\"role\": \"user\", \"content\": \"What is 2+2?\"}]",
     NULL, true, NULL, "<s>", "</s>",
     "<s>[INST] Hello![/INST] Hi there. How can I help?</s>[INST] You are a helpful assistant.\n"
     "\n"
     "What is 2+2?[/INST]",
     NULL},
    {"mistral_alternation", tpl_mistral,
     "[{\"role\": \"user\", \"content\": \"one\"}, {\"role\": \"user\", \"content\": \"two\"}]",
     NULL, true, NULL, "<s>", "</s>", NULL,
     "Roles must alternate user/assistant/user/assistant after the optional system message."},
    {"phi3_plain", tpl_phi3,
     "[{\"role\": \"system\", \"content\": \"You are a helpful assistant.\"}, {\"role\": \"user\", "
     "\"content\": \"Hello!\"}, {\"role\": \"assistant\", \"content\": \"Hi there. How can I "
     "help?\"}, {\"role\": \"user\", \"content\": \"What is 2+2?\"}]",
     NULL, true, NULL, "<s>", "<|endoftext|>",
     "<|system|>\n"
     "You are a helpful assistant.<|end|>\n"
     "<|user|>\n"
     "Hello!<|end|>\n"
     "<|assistant|>\n"
     "Hi there. How can I help?<|end|>\n"
     "<|user|>\n"
     "What is 2+2?<|end|>\n"
     "<|assistant|>\n",
     NULL},
    {"phi3_no_prompt", tpl_phi3,
     "[{\"role\": \"system\", \"content\": \"You are a helpful assistant.\"}, {\"role\": \"user\", "
     "\"content\": \"Hello!\"}, {\"role\": \"assistant\", \"content\": \"Hi there. How can I "
     "help?\"}, {\"role\": \"user\", \"content\": \"What is 2+2?\"}]",
     NULL, false, NULL, "<s>", "<|endoftext|>",
     "<|system|>\n"
     "You are a helpful assistant.<|end|>\n"
     "<|user|>\n"
     "Hello!<|end|>\n"
     "<|assistant|>\n"
     "Hi there. How can I help?<|end|>\n"
     "<|user|>\n"
     "What is 2+2?<|end|>\n"
     "<|endoftext|>",
     NULL},
    {"gemma_plain", tpl_gemma,
     "[{\"role\": \"system\", \"content\": \"You are a helpful assistant.\"}, {\"role\": \"user\", "
     "\"content\": \"Hello!\"}, {\"role\": \"assistant\", \"content\": \"Hi there. How can I "
     "help?\"}, {\"role\": \"user\", \"content\": \"What is 2+2?\"}]",
     NULL, true, NULL, "<bos>", "<eos>",
     "<bos><start_of_turn>user\n"
     "You are a helpful assistant.\n"
     "\n"
     "Hello!<end_of_turn>\n"
     "<start_of_turn>model\n"
     "Hi there. How can I help?<end_of_turn>\n"
     "<start_of_turn>user\n"
     "What is 2+2?<end_of_turn>\n"
     "<start_of_turn>model\n",
     NULL},
    {"gemma_typed_content", tpl_gemma,
     "[{\"role\": \"system\", \"content\": [{\"type\": \"text\", \"text\": \"Be kind.\"}]}, "
     "{\"role\": \"user\", \"content\": [{\"type\": \"image\"}, {\"type\": \"text\", \"text\": "
     "\"Describe this. \"}]}, {\"role\": \"assistant\", \"content\": \"A cat.\"}, {\"role\": "
     "\"user\", \"content\": [{\"type\": \"text\", \"text\": \"Thanks\"}]}]",
     NULL, true, NULL, "<bos>", "<eos>",
     "<bos><start_of_turn>user\n"
     "Be kind.\n"
     "\n"
     "<start_of_image>Describe this.<end_of_turn>\n"
     "<start_of_turn>model\n"
     "A cat.<end_of_turn>\n"
     "<start_of_turn>user\n"
     "Thanks<end_of_turn>\n"
     "<start_of_turn>model\n",
     NULL},
    {"gemma_alternation", tpl_gemma,
     "[{\"role\": \"user\", \"content\": \"one\"}, {\"role\": \"user\", \"content\": \"two\"}]",
     NULL, true, NULL, "<bos>", "<eos>", NULL,
     "Conversation roles must alternate user/assistant/user/assistant/..."},
    {"smollm_plain", tpl_smollm,
     "[{\"role\": \"user\", \"content\": \"Hello!\"}, {\"role\": \"assistant\", \"content\": \"Hi "
     "there. How can I help?\"}, {\"role\": \"user\", \"content\": \"What is 2+2?\"}]",
     NULL, true, NULL, "", "<|im_end|>",
     "<|im_start|>system\n"
     "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello!<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Hi there. How can I help?<|im_end|>\n"
     "<|im_start|>user\n"
     "What is 2+2?<|im_end|>\n"
     "<|im_start|>assistant\n",
     NULL},
    {"smollm_system", tpl_smollm,
     "[{\"role\": \"system\", \"content\": \"You are a helpful assistant.\"}, {\"role\": \"user\", "
     "\"content\": \"Hello!\"}, {\"role\": \"assistant\", \"content\": \"Hi there. How can I "
     "help?\"}, {\"role\": \"user\", \"content\": \"What is 2+2?\"}]",
     NULL, false, NULL, "", "<|im_end|>",
     "<|im_start|>system\n"
     "You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello!<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Hi there. How can I help?<|im_end|>\n"
     "<|im_start|>user\n"
     "What is 2+2?<|im_end|>\n",
     NULL},
};
static const real_case real_cases[] = {
    {"llama-bpe", "chat", true, "<|begin_of_text|>", "<|eot_id|>", NULL, false,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
     "\n"
     "You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     "Hi there. How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "What is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
    {"llama-bpe", "chat", false, "<|begin_of_text|>", "<|eot_id|>", NULL, false,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
     "\n"
     "You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     "Hi there. How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "What is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
    {"phi-3", "chat", true, "<s>", "<|endoftext|>", NULL, false,
     "<s><|user|>\n"
     "Hello!<|end|>\n"
     "<|assistant|>\n"
     "Hi there. How can I help?<|end|>\n"
     "<|user|>\n"
     "What is 2+2?<|end|>\n"
     "<|assistant|>\n"},
    {"phi-3", "chat", false, "<s>", "<|endoftext|>", NULL, false,
     "<s><|user|>\n"
     "Hello!<|end|>\n"
     "<|assistant|>\n"
     "Hi there. How can I help?<|end|>\n"
     "<|user|>\n"
     "What is 2+2?<|end|>\n"
     "<|assistant|>\n"},
    {"qwen2", "chat", true, "", "<|im_end|>", NULL, false,
     "<|im_start|>system\n"
     "You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello!<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Hi there. How can I help?<|im_end|>\n"
     "<|im_start|>user\n"
     "What is 2+2?<|im_end|>\n"
     "<|im_start|>assistant\n"},
    {"qwen2", "nothink", true, "", "<|im_end|>", "{\"enable_thinking\": false}", false,
     "<|im_start|>system\n"
     "You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello!<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Hi there. How can I help?<|im_end|>\n"
     "<|im_start|>user\n"
     "What is 2+2?<|im_end|>\n"
     "<|im_start|>assistant\n"
     "<think>\n"
     "\n"
     "</think>\n"
     "\n"},
    {"qwen2", "tools", true, "", "<|im_end|>", NULL, true,
     "<|im_start|>system\n"
     "You are a weather bot.\n"
     "\n"
     "# Tools\n"
     "\n"
     "You may call one or more functions to assist with the user query.\n"
     "\n"
     "You are provided with function signatures within <tools></tools> XML tags:\n"
     "<tools>\n"
     "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get "
     "the weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": "
     "{\"location\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": "
     "\"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"location\"]}}}\n"
     "</tools>\n"
     "\n"
     "For each function call, return a json object with function name and arguments within "
     "<tool_call></tool_call> XML tags:\n"
     "<tool_call>\n"
     "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
     "</tool_call><|im_end|>\n"
     "<|im_start|>user\n"
     "Weather in Paris?<|im_end|>\n"
     "<|im_start|>assistant\n"
     "<tool_call>\n"
     "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\", \"unit\": "
     "\"celsius\"}}\n"
     "</tool_call><|im_end|>\n"
     "<|im_start|>user\n"
     "<tool_response>\n"
     "{\"temp\": 22, \"sky\": \"clear\"}\n"
     "</tool_response><|im_end|>\n"
     "<|im_start|>assistant\n"},
    {"qwen2", "chat", false, "", "<|im_end|>", NULL, false,
     "<|im_start|>system\n"
     "You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello!<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Hi there. How can I help?<|im_end|>\n"
     "<|im_start|>user\n"
     "What is 2+2?<|im_end|>\n"},
    {"qwen2", "nothink", false, "", "<|im_end|>", "{\"enable_thinking\": false}", false,
     "<|im_start|>system\n"
     "You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello!<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Hi there. How can I help?<|im_end|>\n"
     "<|im_start|>user\n"
     "What is 2+2?<|im_end|>\n"},
    {"qwen2", "tools", false, "", "<|im_end|>", NULL, true,
     "<|im_start|>system\n"
     "You are a weather bot.\n"
     "\n"
     "# Tools\n"
     "\n"
     "You may call one or more functions to assist with the user query.\n"
     "\n"
     "You are provided with function signatures within <tools></tools> XML tags:\n"
     "<tools>\n"
     "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get "
     "the weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": "
     "{\"location\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": "
     "\"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"location\"]}}}\n"
     "</tools>\n"
     "\n"
     "For each function call, return a json object with function name and arguments within "
     "<tool_call></tool_call> XML tags:\n"
     "<tool_call>\n"
     "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
     "</tool_call><|im_end|>\n"
     "<|im_start|>user\n"
     "Weather in Paris?<|im_end|>\n"
     "<|im_start|>assistant\n"
     "<tool_call>\n"
     "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\", \"unit\": "
     "\"celsius\"}}\n"
     "</tool_call><|im_end|>\n"
     "<|im_start|>user\n"
     "<tool_response>\n"
     "{\"temp\": 22, \"sky\": \"clear\"}\n"
     "</tool_response><|im_end|>\n"},
};
static const builtin_case builtin_cases[] = {
    {"chatml", true,
     "<|im_start|>system\n"
     "You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello!<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Hi there. How can I help?<|im_end|>\n"
     "<|im_start|>user\n"
     "What is 2+2?<|im_end|>\n"
     "<|im_start|>assistant\n"},
    {"chatml", false,
     "<|im_start|>system\n"
     "You are a helpful assistant.<|im_end|>\n"
     "<|im_start|>user\n"
     "Hello!<|im_end|>\n"
     "<|im_start|>assistant\n"
     "Hi there. How can I help?<|im_end|>\n"
     "<|im_start|>user\n"
     "What is 2+2?<|im_end|>\n"},
    {"llama3", true,
     "<BOS><|start_header_id|>system<|end_header_id|>\n"
     "\n"
     "You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     "Hi there. How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "What is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"},
    {"llama3", false,
     "<BOS><|start_header_id|>system<|end_header_id|>\n"
     "\n"
     "You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
     "\n"
     "Hi there. How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
     "\n"
     "What is 2+2?<|eot_id|>"},
    {"llama2", true,
     "<BOS>[INST] <<SYS>>\n"
     "You are a helpful assistant.\n"
     "<</SYS>>\n"
     "\n"
     "Hello! [/INST] Hi there. How can I help? <EOS><BOS>[INST] What is 2+2? [/INST]"},
    {"llama2", false,
     "<BOS>[INST] <<SYS>>\n"
     "You are a helpful assistant.\n"
     "<</SYS>>\n"
     "\n"
     "Hello! [/INST] Hi there. How can I help? <EOS><BOS>[INST] What is 2+2? [/INST]"},
    {"mistral", true,
     "<BOS>[INST] You are a helpful assistant.\n"
     "\n"
     "Hello! [/INST] Hi there. How can I help?<EOS>[INST] What is 2+2? [/INST]"},
    {"mistral", false,
     "<BOS>[INST] You are a helpful assistant.\n"
     "\n"
     "Hello! [/INST] Hi there. How can I help?<EOS>[INST] What is 2+2? [/INST]"},
    {"phi3", true,
     "<|system|>\n"
     "You are a helpful assistant.<|end|>\n"
     "<|user|>\n"
     "Hello!<|end|>\n"
     "<|assistant|>\n"
     "Hi there. How can I help?<|end|>\n"
     "<|user|>\n"
     "What is 2+2?<|end|>\n"
     "<|assistant|>\n"},
    {"phi3", false,
     "<|system|>\n"
     "You are a helpful assistant.<|end|>\n"
     "<|user|>\n"
     "Hello!<|end|>\n"
     "<|assistant|>\n"
     "Hi there. How can I help?<|end|>\n"
     "<|user|>\n"
     "What is 2+2?<|end|>\n"},
    {"gemma", true,
     "<BOS><start_of_turn>user\n"
     "You are a helpful assistant.\n"
     "\n"
     "Hello!<end_of_turn>\n"
     "<start_of_turn>model\n"
     "Hi there. How can I help?<end_of_turn>\n"
     "<start_of_turn>user\n"
     "What is 2+2?<end_of_turn>\n"
     "<start_of_turn>model\n"},
    {"gemma", false,
     "<BOS><start_of_turn>user\n"
     "You are a helpful assistant.\n"
     "\n"
     "Hello!<end_of_turn>\n"
     "<start_of_turn>model\n"
     "Hi there. How can I help?<end_of_turn>\n"
     "<start_of_turn>user\n"
     "What is 2+2?<end_of_turn>\n"},
    {"zephyr", true,
     "<|system|>\n"
     "You are a helpful assistant.<EOS>\n"
     "<|user|>\n"
     "Hello!<EOS>\n"
     "<|assistant|>\n"
     "Hi there. How can I help?<EOS>\n"
     "<|user|>\n"
     "What is 2+2?<EOS>\n"
     "<|assistant|>\n"},
    {"zephyr", false,
     "<|system|>\n"
     "You are a helpful assistant.<EOS>\n"
     "<|user|>\n"
     "Hello!<EOS>\n"
     "<|assistant|>\n"
     "Hi there. How can I help?<EOS>\n"
     "<|user|>\n"
     "What is 2+2?<EOS>\n"},
};
static const lang_case lang_cases[] = {
    {"{{ 1 + 2 }}|{{ 7 - 10 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}|{{ 2 ** 10 "
     "}}|{{ 7 / 2 }}|{{ 1.5 * 2 }}|{{ 2 ** -1 }}|{{ 10 / 4 }}|{{ 0.1 + 0.2 }}|{{ 1e20 }}|{{ 1.5e-7 "
     "}}|{{ 3.0 }}|{{ 100.0 / 3 }}|{{ 7.5 // 2 }}|{{ -7.5 % 2 }}",
     "3|-3|3|-4|1|2|1024|3.5|3.0|0.5|2.5|0.30000000000000004|1e+20|1.5e-07|3.0|33.333333333333336|"
     "3.0|0.5"},
    {"{{ -n }}|{{ +n }}|{{ -f|abs }}|{{ (1 + 2) * 3 }}|{{ 2 ** 3 ** 2 }}|{{ 1 + 2 * 3 - 4 / 2 "
     "}}|{{ 1_000 + 0 }}|{{ true + 1 }}",
     "-7|7|2.5|9|64|5.0|1000|2"},
    {"{{ 'a' ~ 1 ~ none ~ true }}|{{ \"x\" + 'y' }}|{{ 'ab' * 3 }}|{{ 2 * '-' }}|{{ [1,2] + [3] "
     "}}|{{ [1, 'a', none, true, 1.5, {'k': 'v'}] }}|{{ {'a': \"it's\"} }}|{{ ['a\"b', \"c'd\"] }}",
     "a1NoneTrue|xy|ababab|--|[1, 2, 3]|[1, 'a', None, True, 1.5, {'k': 'v'}]|{'a': "
     "\"it's\"}|['a\"b', \"c'd\"]"},
    {"{{ 1 == 1.0 }}{{ 1 != 2 }}{{ 1 < 2 }}{{ 'a' < 'b' }}{{ 2 >= 2 }}{{ 3 <= 2 }}{{ [1,2] < [1,3] "
     "}}{{ 1 < 2 < 3 }}{{ 3 > 2 > 5 }}{{ true == 1 }}{{ none == none }}{{ [1, [2]] == [1, [2]] "
     "}}{{ {'a': 1} == {'a': 1} }}",
     "TrueTrueTrueTrueTrueFalseTrueTrueFalseTrueTrueTrueTrue"},
    {"{{ 'a' in 'cat' }}{{ 2 in [1,2] }}{{ 'a' in d }}{{ 'z' not in d }}{{ 5 not in l }}{{ 'x' in "
     "undefined_var }}{{ '' in 'abc' }}",
     "TrueTrueTrueTrueTrueFalseTrue"},
    {"{{ true and 'x' }}|{{ false or 'y' }}|{{ not none }}|{{ 0 or [] or 'z' }}|{{ 'a' if t else "
     "'b' }}|{{ 'a' if none }}|{{ 'a' if none else 'b' if t else 'c' }}|{{ not 1 == 2 }}|{{ none "
     "and x.y.z }}",
     "x|y|True|z|a||b|True|None"},
    {"{{ \"esc: \\\\ \\' \\\" \\t|\" }}{{ 'a' 'b' }}{{ (1, 2) }}{{ (1,) }}{{ () }}{{ {'a': 1, 'b': "
     "[1, 2]}['b'][1] }}{{ \"\\u00e9\\x41\" }}{{ 'multi\n"
     "line' }}",
     "esc: \\ ' \" \t|ab(1, 2)(1,)()2éAmulti\n"
     "line"},
    {"{{ s|trim }}|{{ s|upper }}|{{ s|lower }}|{{ \"hello WORLD\"|capitalize }}|{{ \"hello "
     "wORLD-foo(bar\"|title }}|{{ u8|upper }}|{{ u8|length }}|{{ l|length }}|{{ d|count }}|{{ "
     "'xxhixx'|trim('x') }}",
     "Hello World|  HELLO WORLD  |  hello world  |Hello world|Hello World-Foo(Bar|HÉLLO "
     "WÖRLD|11|3|2|hi"},
    {"{{ l|first }}|{{ l|last }}|{{ 'abc'|first }}|{{ l|join(', ') }}|{{ l|join }}|{{ "
     "items|join(',', attribute='name') }}|{{ undefined_var|default('dflt') }}|{{ ''|default('e', "
     "true) }}|{{ ''|d('e') }}|{{ none|default('n') }}|{{ 0|default(5, boolean=true) }}|{{ "
     "undefined_var|default }}",
     "3|2|a|3, 1, 2|312|x,y,z|dflt|e||None|5|"},
    {"{{ messages|tojson }}",
     "[{\"role\": \"system\", \"content\": \"Sys\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \"Yo\", \"tool_calls\": [{\"function\": {\"name\": "
     "\"f\", \"arguments\": {\"a\": 1, \"b\": \"é\\n\"}}}]}]"},
    {"{{ messages[2]|tojson(indent=2) }}", "{\n"
                                           "  \"role\": \"assistant\",\n"
                                           "  \"content\": \"Yo\",\n"
                                           "  \"tool_calls\": [\n"
                                           "    {\n"
                                           "      \"function\": {\n"
                                           "        \"name\": \"f\",\n"
                                           "        \"arguments\": {\n"
                                           "          \"a\": 1,\n"
                                           "          \"b\": \"é\\n\"\n"
                                           "        }\n"
                                           "      }\n"
                                           "    }\n"
                                           "  ]\n"
                                           "}"},
    {"{{ {'a': [], 'b': {}, 'c': [1, {'x': none}]}|tojson(indent=4) }}|{{ "
     "\"q\\\"\\\\\\t\\u0001é\"|tojson }}|{{ 1.0|tojson }}|{{ [true, false, none, 2.5e-8]|tojson "
     "}}|{{ (1, 'a')|tojson }}|{{ {1: 'int key'}|tojson }}",
     "{\n"
     "    \"a\": [],\n"
     "    \"b\": {},\n"
     "    \"c\": [\n"
     "        1,\n"
     "        {\n"
     "            \"x\": null\n"
     "        }\n"
     "    ]\n"
     "}|\"q\\\"\\\\\\t\\u0001é\"|1.0|[true, false, null, 2.5e-08]|[1, \"a\"]|{\"1\": \"int key\"}"},
    {"{{ 42|string ~ '!' }}|{{ '42'|int + 1 }}|{{ '4.7'|int }}|{{ 'x'|int }}|{{ 'x'|int(-1) }}|{{ "
     "3.9|int }}|{{ '3.25'|float }}|{{ 3|float }}|{{ 'ab'|list }}|{{ d|items|list }}|{{ d|list "
     "}}|{{ [1]|string }}",
     "42!|43|4|0|-1|3|3.25|3.0|['a', 'b']|[('b', 1), ('a', 2)]|['b', 'a']|[1]"},
    {"{{ l|reverse|list }}|{{ 'abc'|reverse }}|{{ u8|reverse }}|{{ 'aXbXc'|replace('X', '-') }}|{{ "
     "'aaa'|replace('a', 'b', 2) }}|{{ 'ab'|replace('', '-') }}",
     "[2, 1, 3]|cba|dlröw olléh|a-b-c|bba|-a-b-"},
    {"{{ items|selectattr('v')|map(attribute='name')|join(',') }}|{{ "
     "items|rejectattr('v')|map(attribute='name')|list }}|{{ items|selectattr('v', 'equalto', "
     "1)|map(attribute='name')|first }}|{{ items|selectattr('v', 'defined')|list|length }}|{{ "
     "items|map(attribute='v', default=0)|list }}|{{ messages|selectattr('tool_calls', "
     "'defined')|map(attribute='tool_calls.0.function.name')|first }}",
     "x,y|['z']|y|2|[2, 1, 0]|f"},
    {"{{ l|select('odd')|list }}|{{ l|reject('odd')|list }}|{{ ['a','b']|map('upper')|list }}|{{ "
     "[1,2,1,3]|unique|list }}|{{ ['A','a','b']|unique|list }}|{{ l|sort|list }}|{{ "
     "l|sort(reverse=true)|list }}|{{ items|sort(attribute='name', "
     "reverse=true)|map(attribute='name')|join }}|{{ ['b', 'A', 'c']|sort }}|{{ ['b', 'A', "
     "'c']|sort(case_sensitive=true) }}",
     "[3, 1]|[2]|['A', 'B']|[1, 2, 3]|['A', 'b']|[1, 2, 3]|[3, 2, 1]|zyx|['A', 'b', 'c']|['A', "
     "'b', 'c']"},
    {"{{ d|dictsort }}|{{ d|dictsort(by='value') }}|{{ d|dictsort(reverse=true) }}|{{ "
     "2.567|round(2) }}|{{ 2.5|round }}|{{ 3.5|round }}|{{ 2.1|round(method='ceil') }}|{{ "
     "2.9|round(method='floor') }}|{{ -3|abs }}|{{ -2.5|abs }}|{{ l|sum }}|{{ "
     "items|sum(attribute='v', start=10) if false else '' }}|{{ l|min }}|{{ l|max }}|{{ "
     "['b','A']|min }}",
     "[('a', 2), ('b', 1)]|[('b', 1), ('a', 2)]|[('b', 1), ('a', "
     "2)]|2.57|2.0|4.0|3.0|2.0|3|2.5|6||1|3|A"},
    {"{{ \"a\\nb\\n\\nc\"|indent(2) }}|{{ \"a\\nb\"|indent(2, true) }}|{{ \"a\\n\\nb\"|indent(2, "
     "blank=true) }}|{{ \"a\\nb\"|indent('> ') }}|{{ '<a href=\"x\">&\\''|escape }}|{{ '<b>'|safe "
     "}}|{{ '<b>'|e }}|{{ 'one two  three'|wordcount }}|{{ d|attr('a') }}",
     "a\n"
     "  b\n"
     "\n"
     "  c|  a\n"
     "  b|a\n"
     "  \n"
     "  b|a\n"
     "> b|&lt;a href=&#34;x&#34;&gt;&amp;&#39;|<b>|&lt;b&gt;|3|"},
    {"{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhiyx'.strip('xy') }}|{{ "
     "'\\n\\nx\\n'.lstrip('\\n') }}|{{ 'abc'.startswith('a') }}|{{ 'abc'.endswith(('x','c')) }}|{{ "
     "'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a b "
     "c'.split(none, 1) }}|{{ 'ab'.upper() }}|{{ 'AB'.lower() }}|{{ 'hello wORLD'.title() }}|{{ "
     "'aXa'.replace('a','b') }}|{{ 'abc'.find('c') }}|{{ 'abab'.count('ab') }}|{{ "
     "'-'.join(['a','b']) }}|{{ 'hello'.capitalize() }}",
     "Hello World|Hello World  |  Hello World|hi|x\n"
     "|True|True|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|['a', 'b c']|AB|ab|Hello "
     "World|bXb|2|2|a-b|Hello"},
    {"{{ d.items()|list }}|{{ d.keys()|list }}|{{ d.values()|list }}|{{ d.get('a') }}|{{ "
     "d.get('zz', 'no') }}|{{ d.get('zz') }}|{% set ns = namespace(l=[]) %}{% set _ = "
     "ns.l.append(1) %}{{ ns.l }}",
     "[('b', 1), ('a', 2)]|['b', 'a']|[1, 2]|2|no|None|[1]"},
    {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for x in l if x > 1 %}{{ "
     "loop.index }}/{{ loop.length }}:{{ x }} {% endfor %}|{% for x in [] %}x{% else %}empty{% "
     "endfor %}|{% for c in 'hé' %}[{{ c }}]{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% "
     "for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}",
     "b=1;a=2;|1/2:3 2/2:2 |empty|[h][é]|ba|37"},
    {"{% for x in l %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.revindex }}{{ "
     "loop.revindex0 }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('a', 'b') }}|{% endfor "
     "%}",
     "0TrueFalse321a|1FalseFalse2132b|2FalseTrue101a|"},
    {"{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% "
     "endif %}{{ x }}{% endfor %}|{{ range(3)|list }}|{{ range(1, 10, 3)|list }}|{{ range(5, 0, "
     "-2)|list }}|{{ range(0)|list }}",
     "0134|[0, 1, 2]|[1, 4, 7]|[5, 3, 1]|[]"},
    {"{% set ns = namespace(a=1, found=false) %}{% for x in l %}{% set ns.a = ns.a + x %}{% if x "
     "== 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.a }} {{ ns.found }}",
     "7 True"},
    {"{% set x = 1 %}{% for i in l %}{% set x = i %}{% endfor %}{{ x }}|{% if true %}{% set y = 5 "
     "%}{% endif %}{{ y }}|{% for i in [1,2,3] %}{% if i == 2 %}[{{ z }}]{% endif %}{% set z = i "
     "%}{% endfor %}|{% set a, b = 1, 2 %}{{ a }}{{ b }}",
     "1|5|[]|12"},
    {"{% for a in [1,2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ "
     "loop.index }};{% endfor %}",
     "11x 21y 1;12x 22y 2;"},
    {"{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ "
     "greet('Bob') }} {{ greet('Al', greeting='Hi') }} {{ greet(name='Z', greeting='Yo') }}|{% "
     "macro m(a, b=a * 2) %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }} {{ m(2, 3) }}|{% macro u(p) "
     "%}[{{ p }}]{% endmacro %}{{ u() }}",
     "Hello, Bob! Hi, Al! Yo, Z!|1-2 2-3|[]"},
    {"{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') "
     "%}bold {{ n }}{% endcall %}|{% macro rep(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor "
     "%}{% endmacro %}{% call(v) rep([1, 2]) %}<{{ v }}>{% endcall %}",
     "<b>bold 7</b>|<1><2>"},
    {"{% filter upper %}hello {{ n }}{% endfilter %}|{% set blk %}inner {{ n }}{% endset %}{{ "
     "blk|length }}{{ blk }}|{% set b2 | trim %}  padded  {% endset %}[{{ b2 }}]",
     "HELLO 7|7inner 7|[padded]"},
    {"{{ l[0] }}{{ l[-1] }}{{ l[1:] }}{{ l[::-1] }}{{ l[:2] }}{{ 'hello'[1:3] }}{{ 'hello'[::-1] "
     "}}{{ 'hello'[-2:] }}{{ u8[1:4] }}{{ l[5] }}{{ d['a'] }}{{ d.a }}{{ l[::2] }}{{ "
     "'abcdef'[4:1:-1] }}{{ l.0 }}{{ 'héllo'[1] }}{{ l[-10:10] }}",
     "32[1, 2][2, 1, 3][3, 1]elollehloéll22[3, 2]edc3é[3, 1, 2]"},
    {"{{ n is defined }}{{ zz is defined }}{{ zz is undefined }}{{ none is none }}{{ zz is none "
     "}}{{ s is string }}{{ n is number }}{{ f is number }}{{ n is integer }}{{ f is integer }}{{ "
     "f is float }}{{ d is mapping }}{{ l is mapping }}{{ l is iterable }}{{ n is iterable }}{{ l "
     "is sequence }}{{ t is boolean }}{{ t is true }}{{ t is false }}{{ n is odd }}{{ n is even "
     "}}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ n is equalto 7 }}{{ n is eq 7 }}{{ n "
     "is ne 7 }}{{ n is not none }}{{ 'a' is in 'abc' }}{{ s is not string }}{{ n is gt 3 }}{{ n "
     "is lt 3 }}{{ n is ge 7 }}{{ n is le 6 }}{{ 'ab' is lower }}{{ 'AB' is upper }}{{ none is "
     "sameas none }}{{ range is callable }}",
     "TrueFalseTrueTrueFalseTrueTrueTrueTrueFalseTrueTrueFalseTrueFalseTrueTrueTrueFalseTrueFalseTr"
     "ueFalseTrueTrueFalseTrueTrueFalseTrueFalseTrueFalseTrueTrueTrueTrue"},
    {"{{ messages[0].content }}{{ messages[0].nothere }}{{ messages[5] }}{{ messages[1]['role'] "
     "}}{% if messages[1].tool_calls %}yes{% else %}no{% endif %}{% for tc in "
     "messages[1].tool_calls %}x{% endfor %}|{{ messages[0].nothere is defined }}",
     "Sysuserno|False"},
    {"{{ zz }}|{{ zz|length }}|{% for x in zz %}{{ x }}{% endfor %}|{{ zz ~ 'a' }}|{{ zz == zz "
     "}}|{{ zz == none }}|{{ not zz }}|{{ zz|default('d') }}|{{ zz is none }}|{{ zz|trim }}",
     "|0||a|True|False|True|d|False|"},
    {"  {% if true %}\n"
     "    x\n"
     "  {% endif %}\n"
     "  {{ n }}\n"
     "{# comment #}\n"
     "  {#- c -#}\n"
     "y\n"
     "  {%- if true -%}\n"
     "    z\n"
     "  {%+ if true %}w{% endif %}\n"
     "{% endif %}\n"
     "end",
     "    x\n"
     "  7\n"
     "yz\n"
     "  wend"},
    {"<{{- ' a ' -}}>\n"
     "  {{ n }}  \n"
     "{%- for x in l %}\n"
     "  {{ x }}\n"
     "{% endfor -%}\n"
     "done",
     "< a >\n"
     "  7  3\n"
     "  1\n"
     "  2\n"
     "done"},
    {"a\n"
     "{% for x in l %}\n"
     "  - {{ x }}\n"
     "{% endfor %}\n"
     "b\n"
     "  {% set q = 1 %}\n"
     "c {% if true %}  d{% endif %}  \n"
     "   {# x #}   e\n"
     "  {%- if true +%}\n"
     "f\n"
     "{% endif %}",
     "a\n"
     "  - 3\n"
     "  - 1\n"
     "  - 2\n"
     "b\n"
     "c   d  \n"
     "   e\n"
     "f\n"},
    {"{%- for message in messages -%}\n"
     "    {%- if loop.first and message.role == 'system' -%}\n"
     "        SYS: {{ message.content }}\n"
     "    {% else %}\n"
     "        {{ message.role }}: {{ message.content }}\n"
     "    {% endif -%}\n"
     "{%- endfor %}",
     "SYS: Sys\n"
     "        user: Hi\n"
     "        assistant: Yo\n"},
    {"{% if n > 5 %}big{% elif n > 2 %}mid{% else %}small{% endif %}|{% if f < 1 %}a{% elif f < 2 "
     "%}b{% elif f < 3 %}c{% endif %}|{% if none %}x{% endif %}",
     "big|c|"},
    {"{{ 1.0 }}|{{ 1e16 }}|{{ 123456789012345.6 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ -0.0 }}|{{ 1/3 "
     "}}|{{ [1.5, 2.0]|tojson }}|{{ 2.0 ** 0.5 }}|{{ 9007199254740993 }}|{{ -9223372036854775807 - "
     "1 }}",
     "1.0|1e+16|123456789012345.6|0.0001|1e-05|-0.0|0.3333333333333333|[1.5, "
     "2.0]|1.4142135623730951|9007199254740993|-9223372036854775808"},
    {"{%- set x = [1, 2, 3] -%}\n"
     "{{- x|length -}} {{ x.0 }}{% do x.append(4) %}{{ x }}{{ x.pop() }}{{ x }}",
     "31[1, 2, 3, 4]4[1, 2, 3]"},
    {"{{ namespace(a=1).a }}{{ dict(a=1, b='x') }}{{ dict({'z': 1}, y=2) }}\n",
     "1{'a': 1, 'b': 'x'}{'z': 1, 'y': 2}"},
};
static const char lang_ctx[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Sys\"}, {\"role\": \"user\", "
    "\"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Yo\", \"tool_calls\": "
    "[{\"function\": {\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\": \"é\\n\"}}}]}], \"s\": \"  "
    "Hello World  \", \"n\": 7, \"f\": 2.5, \"l\": [3, 1, 2], \"d\": {\"b\": 1, \"a\": 2}, "
    "\"none\": null, \"t\": true, \"u8\": \"héllo wörld\", \"items\": [{\"name\": \"x\", \"v\": "
    "2}, {\"name\": \"y\", \"v\": 1}, {\"name\": \"z\"}]}";

static const char conv4[] =
    "[{\"role\": \"system\", \"content\": \"You are a helpful assistant.\"},"
    " {\"role\": \"user\", \"content\": \"Hello!\"},"
    " {\"role\": \"assistant\", \"content\": \"Hi there. How can I help?\"},"
    " {\"role\": \"user\", \"content\": \"What is 2+2?\"}]";

static const char tool_conv[] =
    "[{\"role\": \"system\", \"content\": \"You are a weather bot.\"},"
    " {\"role\": \"user\", \"content\": \"Weather in Paris?\"},"
    " {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"type\": \"function\","
    " \"function\": {\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\","
    " \"unit\": \"celsius\"}}}]},"
    " {\"role\": \"tool\", \"content\": \"{\\\"temp\\\": 22, \\\"sky\\\": \\\"clear\\\"}\"}]";

static const char tools_json[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get "
    "the weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": "
    "{\"location\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": "
    "\"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"location\"]}}}]";

static json_t *parse_json(const char *s)
{
    if (!s) return NULL;
    json_error_t je;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &je);
    if (!j) fail_msg("bad test JSON: %s", je.text);
    return j;
}

/* Renders src with ctx (JSON text or NULL) and limits; returns the output or NULL
 * with err filled. */
static char *render_lim(const char *src, const char *ctx, const ta_jinja_limits *lim, ta_error *err)
{
    ta_jinja *t = ta_jinja_parse(src, strlen(src), err);
    if (!t) return NULL;
    json_t *c = parse_json(ctx);
    char *out = NULL;
    size_t len = 0;
    int rc = ta_jinja_render(t, c, lim, &out, &len, err);
    json_decref(c);
    ta_jinja_free(t);
    if (rc) {
        assert_int_equal(rc, err->code);
        assert_null(out);
        return NULL;
    }
    assert_int_equal(len, strlen(out));
    return out;
}

static void expect_render(const char *src, const char *ctx, const char *want)
{
    ta_error err = {0};
    char *out = render_lim(src, ctx, NULL, &err);
    if (!out) fail_msg("template %s\nfailed: %s", src, err.message);
    if (strcmp(out, want)) fail_msg("template %s\n gave [%s]\n want [%s]", src, out, want);
    free(out);
}

/* Expects failure with code and a message containing part. */
static void expect_error(const char *src, const char *ctx, const ta_jinja_limits *lim, int code,
                         const char *part)
{
    ta_error err = {0};
    char *out = render_lim(src, ctx, lim, &err);
    if (out) fail_msg("template %.200s\nrendered [%.200s], want an error", src, out);
    if (err.code != code || !strstr(err.message, part))
        fail_msg("template %.200s\n error %d [%s]\n want %d containing [%s]", src, err.code,
                 err.message, code, part);
}

/* ---- real templates from the reference vocabularies ---- */

static char *vocab_template(const char *vocab)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", VOCAB_DIR, vocab);
    ta_error err;
    ta_gguf *g = ta_gguf_open(path, &err);
    if (!g) fail_msg("MISSING reference vocabulary %s: %s", path, err.message);
    ta_gguf_str s;
    if (!ta_gguf_get_str(g, "tokenizer.chat_template", &s))
        fail_msg("%s has no tokenizer.chat_template", path);
    char *src = strndup(s.ptr, s.len);
    ta_gguf_close(g);
    return src;
}

static void test_real_templates(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof real_cases / sizeof real_cases[0]; i++) {
        const real_case *c = &real_cases[i];
        char *src = vocab_template(c->vocab);
        json_t *msgs = parse_json(c->tools ? tool_conv : conv4);
        json_t *tools = c->tools ? parse_json(tools_json) : NULL;
        json_t *extra = parse_json(c->extra);
        char *out = NULL;
        ta_error err = {0};
        int rc = ta_chat_template_apply(src, NULL, msgs, tools, c->add_generation_prompt, c->bos,
                                        c->eos, extra, &out, &err);
        if (rc) fail_msg("%s/%s: %s", c->vocab, c->conv, err.message);
        if (strcmp(out, c->expect))
            fail_msg("%s/%s (prompt %d):\n gave [%s]\n want [%s]", c->vocab, c->conv,
                     c->add_generation_prompt, out, c->expect);
        /* the guess agrees with what the template is */
        const char *guess = ta_chat_template_guess(src, NULL);
        assert_string_equal(guess, !strcmp(c->vocab, "qwen2")   ? "chatml"
                                   : !strcmp(c->vocab, "phi-3") ? "phi3"
                                                                : "llama3");
        free(out);
        json_decref(msgs);
        json_decref(tools);
        json_decref(extra);
        free(src);
    }
}

/* ---- family templates ---- */

static void test_family_templates(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof chat_cases / sizeof chat_cases[0]; i++) {
        const chat_case *c = &chat_cases[i];
        json_t *msgs = parse_json(c->messages), *tools = parse_json(c->tools);
        json_t *extra = parse_json(c->extra);
        char *out = NULL;
        ta_error err = {0};
        int rc = ta_chat_template_apply(c->tmpl, NULL, msgs, tools, c->add_generation_prompt,
                                        c->bos, c->eos, extra, &out, &err);
        if (c->expect) {
            if (rc) fail_msg("%s: %s", c->name, err.message);
            if (strcmp(out, c->expect))
                fail_msg("%s:\n gave [%s]\n want [%s]", c->name, out, c->expect);
        } else {
            if (!rc) fail_msg("%s: rendered [%s], want an error", c->name, out);
            assert_int_equal(rc, TA_EINVAL);
            if (!strstr(err.message, c->error) || !strstr(err.message, "line "))
                fail_msg("%s: error [%s], want [%s] with its line", c->name, err.message, c->error);
        }
        free(out);
        json_decref(msgs);
        json_decref(tools);
        json_decref(extra);
    }
}

static void test_builtin_templates(void **state)
{
    (void)state;
    json_t *msgs = parse_json(conv4);
    for (size_t i = 0; i < sizeof builtin_cases / sizeof builtin_cases[0]; i++) {
        const builtin_case *c = &builtin_cases[i];
        char *out = NULL;
        ta_error err = {0};
        int rc = ta_chat_template_apply(NULL, c->name, msgs, NULL, c->add_generation_prompt,
                                        "<BOS>", "<EOS>", NULL, &out, &err);
        if (rc) fail_msg("%s: %s", c->name, err.message);
        if (strcmp(out, c->expect))
            fail_msg("%s:\n gave [%s]\n want [%s]", c->name, out, c->expect);
        free(out);
        assert_non_null(ta_chat_template_builtin(c->name));
    }
    /* NULL fallback is chatml; unknown names are refused */
    char *out = NULL;
    ta_error err = {0};
    assert_int_equal(
        ta_chat_template_apply(NULL, NULL, msgs, NULL, true, NULL, NULL, NULL, &out, &err), 0);
    assert_string_equal(out, builtin_cases[0].expect);
    free(out);
    assert_int_equal(
        ta_chat_template_apply(NULL, "nope", msgs, NULL, true, NULL, NULL, NULL, &out, &err),
        TA_EINVAL);
    assert_null(out);
    json_decref(msgs);

    assert_string_equal(ta_chat_template_guess("x<|im_start|>y", NULL), "chatml");
    assert_string_equal(ta_chat_template_guess("<|start_header_id|>", "qwen2"), "llama3");
    assert_string_equal(ta_chat_template_guess("[INST] <<SYS>>", NULL), "llama2");
    assert_string_equal(ta_chat_template_guess("[INST]", NULL), "mistral");
    assert_string_equal(ta_chat_template_guess("<|user|>\n<|end|>", NULL), "phi3");
    assert_string_equal(ta_chat_template_guess("<|user|>\n</s>", NULL), "zephyr");
    assert_string_equal(ta_chat_template_guess("<start_of_turn>", NULL), "gemma");
    assert_string_equal(ta_chat_template_guess(NULL, "gemma3"), "gemma");
    assert_string_equal(ta_chat_template_guess(NULL, "qwen3"), "chatml");
    assert_string_equal(ta_chat_template_guess(NULL, "phi3"), "phi3");
    assert_string_equal(ta_chat_template_guess("{{ messages }}", "unknown"), "chatml");
    assert_string_equal(ta_chat_template_guess(NULL, NULL), "chatml");
}

/* Content arrays become strings for templates that do not read part types; tool-call
 * arguments given as JSON text become objects; bad messages are refused by index. */
static void test_message_normalization(void **state)
{
    (void)state;
    const char *tpl = "{% for m in messages %}[{{ m.content }}]"
                      "{% for c in m.tool_calls %}{{ c.function.arguments|tojson }}"
                      "{% endfor %}{% endfor %}{{ tools is none }}{{ bos_token }}{{ flag }}";
    json_t *msgs = parse_json(
        "[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"},"
        " {\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}, {\"type\": \"text\","
        " \"text\": \"b\"}]}, {\"role\": \"assistant\", \"content\": null, \"tool_calls\":"
        " [{\"function\": {\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"}}]}]");
    json_t *extra = parse_json("{\"flag\": 7, \"bos_token\": \"<from extra>\"}");
    char *out = NULL;
    ta_error err = {0};
    assert_int_equal(
        ta_chat_template_apply(tpl, NULL, msgs, NULL, false, NULL, NULL, extra, &out, &err), 0);
    assert_string_equal(out, "[a\nb][None]{\"x\": 1}True<from extra>7");
    free(out);
    json_decref(msgs);
    json_decref(extra);

    msgs = parse_json("[{\"role\": \"user\", \"content\": \"x\"}, {\"content\": \"no role\"}]");
    assert_int_equal(
        ta_chat_template_apply(tpl, NULL, msgs, NULL, false, NULL, NULL, NULL, &out, &err),
        TA_EINVAL);
    assert_non_null(strstr(err.message, "messages[1]"));
    json_decref(msgs);

    msgs = parse_json("{\"role\": \"user\"}");
    assert_int_equal(
        ta_chat_template_apply(tpl, NULL, msgs, NULL, false, NULL, NULL, NULL, &out, &err),
        TA_EINVAL);
    json_decref(msgs);

    /* a syntax error in a model's template is reported with its place */
    msgs = parse_json("[]");
    assert_int_equal(ta_chat_template_apply("{% if x %}\n{{ 1 +", NULL, msgs, NULL, false, NULL,
                                            NULL, NULL, &out, &err),
                     TA_EINVAL);
    if (!strstr(err.message, "chat template: line 2")) fail_msg("%s", err.message);
    json_decref(msgs);
}

/* ---- the language ---- */

static void test_language(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof lang_cases / sizeof lang_cases[0]; i++)
        expect_render(lang_cases[i].tmpl, lang_ctx, lang_cases[i].expect);
}

static void test_whitespace_control(void **state)
{
    (void)state;
    /* trim_blocks: the newline after a block tag goes; not after an expression */
    expect_render("{% if true %}\nA\n{% endif %}\nB{{ 1 }}\nC", NULL, "A\nB1\nC");
    /* lstrip_blocks: indentation before a block tag goes, not before text or {{ */
    expect_render("  {% if true %}x{% endif %}\n  {{ 1 }}\n  y", NULL, "x  1\n  y");
    expect_render("a  {% if true %}b{% endif %}", NULL, "a  b");
    /* explicit control */
    expect_render("a \n {{- 'b' -}} \n c", NULL, "abc");
    expect_render("a\n  {%- if true -%}\n  b\n  {%- endif %}\nc", NULL, "abc");
    expect_render("a {#- note -#} b", NULL, "ab");
    expect_render("  {%+ if true %}x{% endif +%}\ny", NULL, "  x\ny");
    /* one trailing newline is dropped, and \r\n reads as \n */
    expect_render("x\r\n{% if true %}\r\ny\r\n{% endif %}\r\n", NULL, "x\ny\n");
    expect_render("x\n\n", NULL, "x\n");
    expect_render("", NULL, "");
    /* `}}` inside a dict literal does not end the tag */
    expect_render("{{ {'a': {'b': 1}}['a']['b'] }}", NULL, "1");
}

static void test_undefined(void **state)
{
    (void)state;
    /* renders empty, falsy, iterates empty, has length 0, is not none */
    expect_render("[{{ x }}]{{ x is defined }}{{ x is none }}{{ x|length }}"
                  "{% for i in x %}no{% endfor %}{% if not x %}f{% endif %}",
                  NULL, "[]FalseFalse0f");
    /* a missing member, also of something undefined, is undefined */
    expect_render("{% set m = {'role': 'user'} %}{{ m.tool_calls is defined }}"
                  "{{ m.tool_calls.function.name is defined }}{{ m['x']['y'] }}",
                  NULL, "FalseFalse");
    /* calling or computing with it is an error that names it */
    expect_error("{{ nothing() }}", NULL, NULL, TA_EINVAL, "'nothing' is undefined");
    expect_error("\n\n  {{ count + 1 }}", NULL, NULL, TA_EINVAL,
                 "line 3, column 12: 'count' is undefined");
    expect_error("{{ m.x.y() }}", "{\"m\": {}}", NULL, TA_EINVAL, "is undefined");
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *src;
        const char *part;
    } syntax[] = {
        {"abc {{ x ", "line 1, column 5: unterminated expression tag"},
        {"abc\n{% if x %}", "line 2, column 1: unclosed block: expected '{% endif %}'"},
        {"{% for x in y %}{% endif %}", "unexpected 'endif'"},
        {"{# never closed", "unterminated comment"},
        {"{{ 'abc }}", "unterminated string"},
        {"{{ x|nosuchfilter }}", "line 1, column 6: no filter named 'nosuchfilter'"},
        {"{{ x is nosuchtest }}", "no test named 'nosuchtest'"},
        {"{% frobnicate %}", "unknown statement"},
        {"{{ 1 + }}", "unexpected '}}'"},
        {"{{ a b }}", "expected '}}'"},
        {"{% else %}", "outside of an if"},
        {"{{ 99999999999999999999 }}", "integer literal too large"},
        {"{{ x @ y }}", "unexpected character '@'"},
        {"{% for x in y recursive %}{% endfor %}", "not supported"},
        {"{{ f(*args) }}", "not supported"},
    };
    for (size_t i = 0; i < sizeof syntax / sizeof syntax[0]; i++) {
        ta_error err = {0};
        ta_jinja *t = ta_jinja_parse(syntax[i].src, strlen(syntax[i].src), &err);
        if (t) fail_msg("%s parsed, want an error", syntax[i].src);
        assert_int_equal(err.code, TA_EINVAL);
        if (!strstr(err.message, syntax[i].part) || strncmp(err.message, "line ", 5))
            fail_msg("%s: [%s], want [%s]", syntax[i].src, err.message, syntax[i].part);
    }
    expect_error("line one\n{{ raise_exception('Roles must alternate') }}", NULL, NULL, TA_EINVAL,
                 "line 2, column 4: Roles must alternate");
    expect_error("{{ 1 / 0 }}", NULL, NULL, TA_EINVAL, "division by zero");
    expect_error("{{ 1 // 0 }}", NULL, NULL, TA_EINVAL, "division or modulo by zero");
    expect_error("{{ 9223372036854775807 + 1 }}", NULL, NULL, TA_EINVAL, "integer overflow");
    expect_error("{{ 'a' + 1 }}", NULL, NULL, TA_EINVAL, "unsupported operand type(s) for +");
    expect_error("{{ 'a' < 1 }}", NULL, NULL, TA_EINVAL, "'<' not supported");
    expect_error("{% for x in 5 %}{% endfor %}", NULL, NULL, TA_EINVAL, "not iterable");
    expect_error("{% for x in none %}{% endfor %}", NULL, NULL, TA_EINVAL,
                 "'NoneType' object is not iterable");
    expect_error("{{ x|tojson }}", NULL, NULL, TA_EINVAL, "not JSON serializable");
    expect_error("{% set x = 1 %}{% set x.a = 2 %}", NULL, NULL, TA_EINVAL, "non-namespace");
    expect_error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", NULL, NULL, TA_EINVAL,
                 "takes not more than 1");
    expect_error("{% macro m(a) %}{% endmacro %}{{ m(b=1) }}", NULL, NULL, TA_EINVAL,
                 "no argument 'b'");
    expect_error("{% break %}", NULL, NULL, TA_EINVAL, "outside of a loop");
    expect_error("{{ 5() }}", NULL, NULL, TA_EINVAL, "not callable");
    expect_error("{{ [1][::0] }}", NULL, NULL, TA_EINVAL, "slice step cannot be zero");
    expect_error("{{ ''.split('') }}", NULL, NULL, TA_EINVAL, "empty separator");

    /* bad arguments to the API */
    ta_error err = {0};
    char *out = (char *)1;
    ta_jinja *t = ta_jinja_parse("x", 1, &err);
    json_t *arr = json_array();
    assert_int_equal(ta_jinja_render(t, arr, NULL, &out, NULL, &err), TA_EINVAL);
    assert_null(out);
    json_decref(arr);
    ta_jinja_free(t);
    ta_jinja_free(NULL);
    assert_null(ta_jinja_parse(NULL, 0, &err));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_limits(void **state)
{
    (void)state;
    double t0 = now_s();
    /* loops that would run for ages stop at the step limit, at once */
    expect_error("{% for i in range(10**9) %}x{% endfor %}", NULL, NULL, TA_ETOOBIG, "step limit");
    ta_jinja_limits small = {.max_steps = 100000};
    expect_error("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
                 NULL, &small, TA_ETOOBIG, "step limit");
    /* unbounded recursion stops at the depth limit */
    expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, NULL, TA_ETOOBIG,
                 "nested too deeply");
    /* output and string sizes are bounded */
    ta_jinja_limits out_lim = {.max_output = 1000};
    expect_error("{% for i in range(2000) %}x{% endfor %}", NULL, &out_lim, TA_ETOOBIG,
                 "output longer than the limit");
    expect_error("{{ 'x' * 100000000000 }}", NULL, NULL, TA_ETOOBIG, "output limit");
    expect_error("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}"
                 "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                 NULL, NULL, TA_ETOOBIG, "limit");
    ta_jinja_limits mem = {.max_memory = 1 << 20};
    expect_error("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
                 "{% do ns.l.append(i) %}{% endfor %}",
                 NULL, &mem, TA_ETOOBIG, "memory limit");
    /* deep nesting in the source is refused by the parser, without deep recursion */
    size_t n = 100000;
    char *deep = malloc(2 * n + 8);
    memset(deep, '(', n);
    memcpy(deep + n, "1", 1);
    memset(deep + n + 1, ')', n);
    deep[2 * n + 1] = '\0';
    char *src = malloc(2 * n + 16);
    snprintf(src, 2 * n + 16, "{{ %s }}", deep);
    ta_error err = {0};
    assert_null(ta_jinja_parse(src, strlen(src), &err));
    assert_non_null(strstr(err.message, "nested too deeply"));
    for (size_t i = 0; i < n; i++)
        memcpy(src + 10 * (i % 1000), "{% if 1 %}", 10);
    src[10000] = '\0';
    assert_null(ta_jinja_parse(src, strlen(src), &err));
    assert_non_null(strstr(err.message, "nested too deeply"));
    /* a long flat chain parses, and its evaluation is bounded too */
    size_t len = 0;
    for (size_t i = 0; i < 5000; i++)
        len += (size_t)sprintf(src + len, i ? "+1" : "{{ 1");
    strcpy(src + len, " }}");
    expect_error(src, NULL, NULL, TA_ETOOBIG, "nested too deeply");
    free(src);
    free(deep);
    double elapsed = now_s() - t0;
    if (elapsed > 10) fail_msg("the limits took %.1f s to trip", elapsed);
}

static void test_strftime_now(void **state)
{
    (void)state;
    char want[16];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(want, sizeof want, "%Y", &tm);
    ta_error err = {0};
    char *out = render_lim("{{ strftime_now('%Y') }}", NULL, NULL, &err);
    assert_non_null(out);
    assert_string_equal(out, want);
    free(out);
    /* variables passed in shadow the builtins */
    expect_render("{{ strftime_now }}", "{\"strftime_now\": \"mine\"}", "mine");
}

/* One parsed template rendered by several threads at once. */
typedef struct thread_job {
    const ta_jinja *t;
    const json_t *ctx;
    const char *want;
    int ok;
} thread_job;

static void *thread_main(void *arg)
{
    thread_job *j = arg;
    for (int i = 0; i < 50; i++) {
        char *out = NULL;
        ta_error err;
        if (ta_jinja_render(j->t, j->ctx, NULL, &out, NULL, &err) == 0 && !strcmp(out, j->want))
            j->ok++;
        free(out);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    const char *src = "{% for m in messages %}{{ m.role|upper }}:{{ m.content }};{% endfor %}";
    ta_error err;
    ta_jinja *t = ta_jinja_parse(src, strlen(src), &err);
    assert_non_null(t);
    char ctxs[256];
    snprintf(ctxs, sizeof ctxs, "{\"messages\": %s}", conv4);
    json_t *ctx = parse_json(ctxs);
    thread_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (thread_job){t, ctx,
                               "SYSTEM:You are a helpful assistant.;USER:Hello!;"
                               "ASSISTANT:Hi there. How can I help?;USER:What is 2+2?;",
                               0};
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].ok, 50);
    }
    json_decref(ctx);
    ta_jinja_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_templates),
        cmocka_unit_test(test_family_templates),
        cmocka_unit_test(test_builtin_templates),
        cmocka_unit_test(test_message_normalization),
        cmocka_unit_test(test_language),
        cmocka_unit_test(test_whitespace_control),
        cmocka_unit_test(test_undefined),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_strftime_now),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
